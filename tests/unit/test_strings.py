"""String templates render to the bytes the real ser2net 4.3.11 sent.

The expected values were captured from ser2net over a socket (banners) and
from the names of the trace files it created.
"""

from __future__ import annotations

from datetime import datetime

from pyser2net.config.legacy import parse_legacy
from pyser2net.config.model import SerialSettings
from pyser2net.protocol.templates import (
    StringContext,
    context_for,
    render,
    serial_params,
    translate,
)

NOW = datetime(2026, 11, 21, 12, 32, 29, 156954)
CTX = StringContext(
    device="/dev/pts/1,19200,EVEN,LOCAL",
    orig_device="mydev",
    name="27031",
    accepter="27031",
    serial_params=",19200E81,CLOCAL",
    remote_address="ipv6,::ffff:127.0.0.1,57272",
)


def test_banner_bytes_as_ser2net_sent_them() -> None:
    template = (
        "[\\a\\b\\f\\v\\t\\\\ \\? \\' \\\" \\x41 \\x4 \\x4z \\xg \\101 \\1 \\18 \\19z "
        "\\777 \\z \\s \\T|\\Y|\\y|\\M|\\m|\\A|\\D|\\H|\\h|\\i|\\S|\\q|\\P|\\U|\\d|\\o|"
        "\\N|\\p|\\B|\\I]\\r\\n"
    )
    expected = (
        b"[\x07\x08\x0c\x0b\t\\ ? ' \" A  z g A   z \xff z s 12:32:29|2026|324|Nov|11|"
        b"Sat|21|12|12|32|29|pm|PM|156954|/dev/pts/1,19200,EVEN,LOCAL|mydev|27031|27031|"
        b",19200E81,CLOCAL|ipv6,::ffff:127.0.0.1,57272]\r\n"
    )
    assert render(template, CTX, now=NOW) == expected


def test_file_name_rules() -> None:
    template = "/tmp/r-\\d-\\o-\\N-\\p-\\s-\\B-\\I-\\Y\\m\\D.log"
    assert render(template, CTX, filename=True, now=NOW) == (
        b"/tmp/r-1,19200,EVEN,LOCAL-mydev-27031-27031-s--ipv6,::ffff:127.0.0.1,57272-20261121.log"
    )


def test_o_without_alias_is_the_name() -> None:
    ctx = StringContext(device="/dev/pts/2", name="2000", accepter="2000")
    assert render("\\o \\d", ctx, now=NOW) == b"2000 /dev/pts/2"
    assert render("\\o|\\d", ctx, filename=True, now=NOW) == b"2000|2"


def test_time_fields() -> None:
    morning = datetime(2024, 1, 1, 0, 5, 7, 42)
    assert (
        render("\\h \\H \\q \\P \\U \\y \\A \\M \\D", StringContext(), now=morning)
        == b"12 00 am AM 000042 0 Mon Jan 1"
    )
    assert render("\\e", StringContext(), now=morning) == str(int(morning.timestamp())).encode()


def test_incomplete_escapes_and_end_of_string() -> None:
    ctx = StringContext()
    assert render("a\\", ctx) == b"a"
    assert render("\\1", ctx) == b"\x01"
    assert render("\\12", ctx) == b"\n"
    assert render("\\x", ctx) == b""
    assert render("\\x4", ctx) == b"\x04"
    assert render("\\12x", ctx) == b"x"


def test_non_ascii_and_raw_bytes() -> None:
    assert render("é\udcff", StringContext()) == "é".encode() + b"\xff"


def test_serial_params() -> None:
    assert serial_params(SerialSettings(speed=115200, local=True)) == ",115200N81,CLOCAL"
    assert (
        serial_params(
            SerialSettings(
                parity="even",
                databits=7,
                stopbits=2,
                xonxoff=True,
                rtscts=True,
                hangup_when_done=True,
            )
        )
        == ",9600E72,XONXOFF,RTSCTS,HANGUP_WHEN_DONE"
    )
    assert serial_params(SerialSettings(), wronly=True) == ""


def test_context_from_legacy_line() -> None:
    config = parse_legacy(
        "BANNER:b:hello \\p \\d \\B \\N\\r\\n\n2000:raw:0:/dev/pts/0:115200 LOCAL b\n", "t.conf"
    )
    conn = config.connections[0]
    assert conn.options.banner is not None
    assert (
        render(conn.options.banner, context_for(conn), now=NOW)
        == b"hello 2000 /dev/pts/0,115200,LOCAL ,115200N81,CLOCAL 2000\r\n"
    )


# ------------------------------------------------------------ translate


NEW = StringContext(
    device="serialdev,/dev/pts/1,19200e81,local",
    orig_device=None,
    name="27031",
    accepter="telnet,tcp,27031",
    serial_params=",19200E81,CLOCAL",
)


def test_translate_uses_a_substitution_that_prints_the_old_text() -> None:
    result = translate("[\\p|\\N|\\B]\\r\\n", CTX, NEW)
    assert result.template == "[\\N|\\N|\\B]\\r\\n"
    assert result.changed == ()
    assert render(result.template, NEW, now=NOW) == render("[\\p|\\N|\\B]\\r\\n", CTX, now=NOW)


def test_translate_reports_what_has_no_equivalent() -> None:
    result = translate("\\d \\d \\o", CTX, NEW)
    assert result.template == "\\d \\d \\o"
    assert result.changed == (
        ("d", "/dev/pts/1,19200,EVEN,LOCAL", "serialdev,/dev/pts/1,19200e81,local"),
        ("o", "mydev", "27031"),
    )


def test_translate_of_file_names_compares_what_files_get() -> None:
    # After the last "/", \d differs in the parameters only: still reported.
    result = translate("/tmp/\\p-\\d.log", CTX, NEW, filename=True)
    assert result.template == "/tmp/\\N-\\d.log"
    assert result.changed == (("d", "1,19200,EVEN,LOCAL", "1,19200e81,local"),)


def test_translate_leaves_escaped_backslashes_and_other_escapes_alone() -> None:
    template = "\\\\p \\x4p \\1p \\pp\\"
    result = translate(template, CTX, NEW)
    # Only the one real \p (the one before "p\") is a substitution.
    assert result.template == "\\\\p \\x4p \\1p \\Np\\"
    assert render(result.template, NEW, now=NOW) == render(template, CTX, now=NOW)
