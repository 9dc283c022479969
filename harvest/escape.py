"""Escaping for the formats the project writes: every writer passes the record's text through the
function for its format, so a value can never change the structure it is written into.

latex_text   BibTeX field text (LaTeX): # $ % & ~ _ ^ \\ < > written as LaTeX commands, braces kept only
             where they balance (a lone one becomes \\textbraceleft{} / \\textbraceright{}), `@` braced
verbatim     BibTeX verbatim fields (doi, url): one line, braces and backslashes percent-encoded
one_line     RIS and other line-based formats: no line breaks of any kind, no control characters
xml_text     XML 1.0 (Atom, GraphML, GEXF): the characters XML 1.0 cannot carry removed
csv_cell     a spreadsheet cell: a formula at the start (= + - @ tab CR) neutralised by a leading `'`
             (OWASP's advice for CSV injection); numbers are left as they are
"""

from __future__ import annotations

import re

LATEX_SPECIALS = {"\\": r"\textbackslash{}", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "&": r"\&",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                  "@": "{@}"}
LATEX_SPECIAL = re.compile("|".join(re.escape(char) for char in LATEX_SPECIALS))
BRACE = re.compile("[{}]")
# XML 1.0 Char production: tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF.
NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Line breaks a reader may split a line on (str.splitlines' set) and the other C0/C1 controls.
LINE_BREAKS_AND_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _unbalanced_braces(text: str) -> list[int]:
    """Positions of the braces that have no partner, in order."""
    opened, lone = [], []
    for brace in BRACE.finditer(text):
        if brace.group() == "{":
            opened.append(brace.start())
        elif opened:
            opened.pop()
        else:
            lone.append(brace.start())
    return sorted(lone + opened)


def _latex_specials(text: str) -> str:
    return LATEX_SPECIAL.sub(lambda found: LATEX_SPECIALS[found.group()], text)


def latex_text(value: str | None) -> str | None:
    """Text for a BibTeX field that LaTeX typesets: `100% of AI & {apps}` -> `100\\% of AI \\& {apps}`.

    White space (line breaks included) folds to one space, since a blank line inside a field is a
    paragraph break to LaTeX. Balanced braces stay (they protect case in BibTeX styles); a lone
    brace is written as a command, so no title can close its field early or open a new one.
    """
    if value is None:
        return None
    text = " ".join(LINE_BREAKS_AND_CONTROLS.sub(" ", str(value)).split())
    pieces, start = [], 0
    for position in _unbalanced_braces(text) if "{" in text or "}" in text else []:
        pieces.append(_latex_specials(text[start:position]))
        pieces.append(r"\textbraceleft{}" if text[position] == "{" else r"\textbraceright{}")
        start = position + 1
    pieces.append(_latex_specials(text[start:]))
    return "".join(pieces)


def verbatim(value: str | None) -> str | None:
    """A BibTeX field read verbatim (doi, url, eprint): one line, and the characters that could end the
    field (braces) or start a command (backslash) percent-encoded, as they would be in a URL."""
    if value is None:
        return None
    text = " ".join(LINE_BREAKS_AND_CONTROLS.sub(" ", str(value)).split())
    return text.replace("\\", "%5C").replace("{", "%7B").replace("}", "%7D")


def one_line(value: str | None) -> str | None:
    """A value for a line-based format (RIS `TAG  - value`): line breaks and control characters become
    spaces, runs of spaces fold, so a value can never start a line (and a record) of its own."""
    if value is None:
        return None
    return " ".join(LINE_BREAKS_AND_CONTROLS.sub(" ", str(value)).split())


def xml_text(value):
    """A string without the characters XML 1.0 cannot carry (U+0000-U+0008, U+000B, U+000C,
    U+000E-U+001F, lone surrogates, U+FFFE, U+FFFF); anything else is returned unchanged."""
    return NOT_XML.sub("", value) if isinstance(value, str) else value


def csv_cell(value):
    """A CSV cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a leading `'`.
    Numbers (`-3.5`, `+1e3`) and anything that is not a string are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not NUMBER.fullmatch(value):
        return "'" + value
    return value
