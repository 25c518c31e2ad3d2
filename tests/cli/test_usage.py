"""A bare ``kagdigits`` lists the commands (issue 44, item 4)."""

from kagdigits.cli.main import COMMANDS, build_parser
from tests.helpers import run_cli


def test_a_bare_kagdigits_lists_each_command_on_one_line(capsys):
    code, out, err = run_cli(capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("usage: kagdigits ") and "commands:" in lines
    listed = lines[lines.index("commands:") + 1:-2]
    assert [line.split()[0] for line in listed] == list(COMMANDS)
    parser_help = build_parser().format_help()
    for line in listed:  # each with the help line that --help shows
        name, help_text = line.split(maxsplit=1)
        assert " ".join(help_text.split()[:4]) in " ".join(parser_help.split())
    assert lines[-2:] == ["", "kagdigits: error: no COMMAND given; choose one of the commands "
                              "above (kagdigits COMMAND --help shows its options)"]


def test_debug_alone_lists_them_too(capsys):
    code, _, err = run_cli(capsys, "--debug")
    assert code == 2 and "  submission  " in err
