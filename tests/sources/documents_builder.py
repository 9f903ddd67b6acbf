"""Real small PDF and Word files written by the tests: PDFs by hand (objects, a text content stream per
page, a cross-reference table), outlines and encryption through pypdf, .docx through python-docx."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

# Standard 14 fonts: every PDF reader has them, nothing to embed.
FONTS = {"F1": "Helvetica", "F2": "Courier", "F3": "Helvetica-Bold"}


@dataclass(frozen=True)
class Text:
    text: str
    y: float
    size: float = 11.0
    x: float = 72.0
    font: str = "F1"  # F1 Helvetica, F2 Courier (monospace), F3 Helvetica-Bold


def _escape(text: str) -> bytes:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252")


def make_pdf(pages: list[list[Text]], image_only_pages: frozenset[int] = frozenset()) -> bytes:
    """A PDF whose page k shows `pages[k]`; pages in `image_only_pages` only paint a 2x2 grey image."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    add(b"<< /Type /Catalog /Pages 2 0 R >>")
    add(b"")  # the page tree, written once the pages exist
    fonts = b" ".join(
        f"/{key} {add(f'<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>'.encode())} 0 R"
        .encode() for key, name in FONTS.items())
    image = add(b"<< /Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Length 4 >>\nstream\n\x10\x80\x80\x10\nendstream")
    kids = []
    for index, texts in enumerate(pages):
        if index in image_only_pages:
            content = b"q 400 0 0 500 100 150 cm /Im1 Do Q"
        else:
            content = b"BT\n" + b"".join(
                f"/{t.font} {t.size:g} Tf 1 0 0 1 {t.x:g} {t.y:g} Tm (".encode() + _escape(t.text) + b") Tj\n"
                for t in texts) + b"ET"
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(add(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                        b"/Resources << /Font << %s >> /XObject << /Im1 %d 0 R >> >> >>" % (stream, fonts, image)))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def with_outline(pdf: bytes, entries: list[tuple[str, int, int]], title: str = "") -> bytes:
    """`pdf` with bookmarks (title, page index, depth: 0 top level, 1 below the last depth-0 entry)."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    parents: dict[int, object] = {}
    for name, page, depth in entries:
        parents[depth] = writer.add_outline_item(title=name, page_number=page, parent=parents.get(depth - 1))
    if title:
        writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted(pdf: bytes, user_password: str) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(path: Path) -> None:
    """A Word document with a title, headings, a list, code, a table and a table-of-contents line."""
    import docx
    from docx.enum.style import WD_STYLE_TYPE

    document = docx.Document()
    document.styles.add_style("toc 1", WD_STYLE_TYPE.PARAGRAPH)  # Word adds it with a table of contents
    document.core_properties.title = "Operations Handbook"
    document.add_paragraph("Operations Handbook", style="Title")
    document.add_paragraph("Installing the service . . . 2", style="toc 1")
    document.add_heading("Installing the service", level=1)
    document.add_paragraph("The service runs on any Linux host with Python 3.11 installed.")
    document.add_paragraph("Download the release archive.", style="List Bullet")
    document.add_paragraph("Unpack it into /opt/service.", style="List Bullet")
    for line in ("cd /opt/service", "\t./install --user svc"):
        run = document.add_paragraph().add_run(line)
        run.font.name = "Courier New"
    document.add_heading("Checking the installation", level=2)
    paragraph = document.add_paragraph("Run ")
    paragraph.add_run("svc --version").font.name = "Consolas"
    paragraph.add_run(" and compare the number with the release notes.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "TABLE_CELL_LEAK"
    document.save(str(path))
