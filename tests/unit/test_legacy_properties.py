"""Whatever the text, the legacy reader answers with a Config or a ConfigError."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyser2net.config import ConfigError
from pyser2net.config.convert import to_yaml
from pyser2net.config.legacy import parse_legacy
from pyser2net.config.yaml import parse_yaml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "legacy"
SAMPLES = [p.read_text().replace("@PTY0@", "/dev/ttyS0") for p in sorted(FIXTURES.glob("*.conf"))]

TOKENS = st.sampled_from(
    [
        ":",
        "raw",
        "rawlp",
        "telnet",
        "off",
        "on",
        "BANNER",
        "DEVICE",
        "TRACEFILE",
        "DEFAULT",
        "ROTATOR",
        "LED",
        "CONTROLPORT",
        "RS485CONF",
        "CLOSEON",
        "2000",
        "0x1",
        "/dev/ttyS0",
        " ",
        "\\",
        "\n",
        "#",
        "=",
        "tr=",
        "9600N81",
        "LOCAL",
        "local",
        "remctl",
        '"',
        "'",
        "\\x4",
        "\\",
        "ipv4,",
        "::1",
        ",",
        "sysfs",
        "device=",
        "speed",
        "kickolduser",
        "-",
    ]
)


def check(text: str) -> None:
    try:
        parse_legacy(text, "fuzz.conf")
    except ConfigError as exc:
        for issue in exc.issues:
            assert str(issue).startswith("fuzz.conf:")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=40).map("".join))
def test_token_soup(text: str) -> None:
    check(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text(text: str) -> None:
    check(text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SAMPLES), st.integers(0, 400), st.integers(0, 5), st.text(max_size=5))
def test_mutated_fixtures(sample: str, at: int, cut: int, insert: str) -> None:
    at = min(at, len(sample))
    check(sample[:at] + insert + sample[at + cut :])


STATES = st.sampled_from(["raw", "rawlp", "telnet", "off"])
WORDS = st.lists(
    st.sampled_from(
        [
            "300",
            "115200",
            "9600E71",
            "19200o",
            "EVEN",
            "ODD",
            "NONE",
            "MARK",
            "SPACE",
            "1STOPBIT",
            "2STOPBITS",
            "5DATABITS",
            "7DATABITS",
            "XONXOFF",
            "-XONXOFF",
            "RTSCTS",
            "-RTSCTS",
            "LOCAL",
            "-LOCAL",
            "HANGUP_WHEN_DONE",
            "-HANGUP_WHEN_DONE",
            "NOBREAK",
            "-NOBREAK",
            "remctl",
            "-remctl",
            "kickolduser",
            "-kickolduser",
            "hexdump",
            "-timestamp",
            "telnet_brk_on_sync",
            "-chardelay",
            "chardelay-scale=7",
            "max-connections=3",
            "remaddr=127.0.0.1,0",
            "dev-to-net-bufsize=100",
            "b",
            "banner=x\\ty",
            "tr=t",
        ]
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(STATES, st.integers(1, 65535), st.integers(0, 100), WORDS)
def test_generated_lines_round_trip(state: str, port: int, timeout: int, words: list) -> None:
    text = (
        f"BANNER:b:hi \\N\\r\\n\nTRACEFILE:t:/tmp/\\N.log\n"
        f"{port}:{state}:{timeout}:/dev/ttyS0:{' '.join(words)}\n"
    )
    config = parse_legacy(text, "gen.conf")
    assert parse_yaml(to_yaml(config), "gen.yaml") == config
