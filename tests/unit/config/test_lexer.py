"""The original's line rules, which legacy files depend on (spec 2.1, quirk 7)."""

from __future__ import annotations

from ldirectord_py.config.lexer import GlobalLine, VirtualBlock, lex, split_lines


def items(text: str) -> list[GlobalLine | VirtualBlock]:
    return list(lex(split_lines(text)))


def test_only_newline_splits_lines_and_newlines_are_kept() -> None:
    assert split_lines("a\r\nb\x0bc\nd") == ["a\r\n", "b\x0bc\n", "d"]
    assert split_lines("") == []
    assert split_lines("x\n") == ["x\n"]


def test_block_collects_indented_lines_with_tabs_as_four_spaces() -> None:
    (block,) = items("virtual=1.2.3.4:80\n\treal=1.1.1.1:80 gate\n        service=http\n")
    assert isinstance(block, VirtualBlock)
    assert [(b.line, b.command) for b in block.body] == [
        (2, "real=1.1.1.1:80 gate"),
        (3, "service=http"),
    ]
    assert block.end_line == 3


def test_comment_lines_are_skipped_inside_a_block_and_do_not_end_it() -> None:
    (block,) = items("virtual=1.2.3.4:80\n# note\n\treal=1.1.1.1:80 gate\n")
    assert isinstance(block, VirtualBlock)
    assert [b.command for b in block.body] == ["real=1.1.1.1:80 gate"]


def test_hash_cuts_the_rest_of_a_block_line_even_inside_quotes() -> None:
    (block,) = items('virtual=1.2.3.4:80\n\treceive="#ok"\n')
    assert isinstance(block, VirtualBlock)
    assert block.body[0].command == 'receive="'


def test_blank_line_ends_the_block_and_is_read_again_as_a_global_line() -> None:
    result = items("virtual=1.2.3.4:80\n\treal=1.1.1.1:80 gate\n\n\tservice=http\n")
    assert [type(i).__name__ for i in result] == ["VirtualBlock", "GlobalLine", "GlobalLine"]
    assert result[1] == GlobalLine(3, "\n")
    assert result[2] == GlobalLine(4, "\tservice=http\n")


def test_three_spaces_end_the_block_four_do_not() -> None:
    three = items("virtual=1.2.3.4:80\n   real=1.1.1.1:80 gate\n")
    assert isinstance(three[0], VirtualBlock) and three[0].body == ()
    assert three[1] == GlobalLine(2, "   real=1.1.1.1:80 gate\n")
    (four,) = items("virtual=1.2.3.4:80\n    real=1.1.1.1:80 gate\n")
    assert isinstance(four, VirtualBlock) and len(four.body) == 1


def test_four_spaces_alone_end_the_block_but_five_are_a_one_space_command() -> None:
    four = items("virtual=1.2.3.4:80\n    \n")
    assert isinstance(four[0], VirtualBlock) and four[0].body == ()
    (five,) = items("virtual=1.2.3.4:80\n     \n")
    assert isinstance(five, VirtualBlock)
    assert five.body[0].command == " "


def test_virtual_on_the_last_line_is_read_twice_once_only() -> None:
    result = items("virtual=1.2.3.4:80\n")
    assert [(type(i).__name__, i.line) for i in result] == [
        ("VirtualBlock", 1),
        ("VirtualBlock", 1),
    ]


def test_block_ending_in_a_comment_at_end_of_file_replays_only_the_comment() -> None:
    result = items("virtual=1.2.3.4:80\n\treal=1.1.1.1:80 gate\n# end\n")
    assert [type(i).__name__ for i in result] == ["VirtualBlock", "GlobalLine"]
    assert result[1] == GlobalLine(3, "# end\n")


def test_next_virtual_line_ends_a_block_and_opens_another() -> None:
    result = items(
        "virtual=1.2.3.4:80\n\treal=1.1.1.1:80 gate\nvirtual6=[::1]:80\n\treal6=[::1]:80 gate\n"
    )
    assert [type(i).__name__ for i in result] == ["VirtualBlock", "VirtualBlock"]
    second = result[1]
    assert isinstance(second, VirtualBlock) and second.ipv6 and second.line == 3
