"""``--check``'s summary shows strings as a configuration file writes them."""

from __future__ import annotations

from pyser2net.config import load_text
from pyser2net.config.summary import summarize

LEGACY = (
    "BANNER:b1:\\r\\nWelcome to \\p on \\d\\t(\\x41)\n"
    "TRACEFILE:tr:/tmp/trace-\\p-\\Y\n"
    "OPENSTR:o1:  padded \n"
    "3001:telnet:600:/dev/ttyS0:9600 b1 tr=tr o1\n"
)

YAML = (
    "connection: &c\n"
    "  accepter: tcp,3002\n"
    "  connector: serialdev,/dev/ttyS0,9600n81\n"
    "  options:\n"
    '    banner: "\\r\\nHi\\x01\\t"\n'
    "    closestr: 'bye\\r'\n"
    "    openstr: ''\n"
)


def test_legacy_strings_print_as_the_file_wrote_them() -> None:
    text = summarize(load_text(LEGACY, "ser2net.conf"))
    assert "  banner: \\r\\nWelcome to \\p on \\d\\t(\\x41)\n" in text
    assert "  trace-read: /tmp/trace-\\p-\\Y\n" in text
    assert '  openstr: "  padded "\n' in text  # quoted: its spaces would not show


def test_yaml_strings_show_control_characters_as_escapes() -> None:
    # Double quotes made real CR, LF, 0x01 and a tab of them; the summary
    # shows escapes that print the same bytes.
    text = summarize(load_text(YAML, "c.yaml"))
    assert "  banner: \\r\\nHi\\x01\\t\n" in text
    assert "  closestr: bye\\r\n" in text
    assert '  openstr: ""\n' in text
    assert "'" not in text


def test_a_usb_selector_shows_that_clients_are_held_by_default() -> None:
    text = "3001:raw:0:usb(vid=0403,serial=AB*):115200\n3002:raw:0:/dev/ttyS0:9600\n"
    assert summarize(load_text(text, "ser2net.conf")) == (
        "3001:\n"
        "  accepter:  tcp *:3001\n"
        "  connector: serial usb(vid=0403,serial=AB*) 115200N81\n"
        "  device-loss: hold (the default with a usb(...) selector)\n"
        "\n"
        "3002:\n"
        "  accepter:  tcp *:3002\n"
        "  connector: serial /dev/ttyS0 9600N81\n"
    )
