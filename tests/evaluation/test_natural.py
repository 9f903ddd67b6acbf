"""docent.evaluation.natural: which hand-written questions the sources can answer."""

from docent.evaluation.natural import split_by_sources


def test_natural_questions_on_documents_without_passages_are_held_out():
    rows = [{"question": "who was le loi", "doc_title": "LÊ LỢI"},  # case folded: on the sources
            {"question": "when did quang trung reign", "doc_title": "Quang Trung"},
            {"question": "no title given"}]
    on_sources, held_out = split_by_sources(rows, ["Lê Lợi"])
    assert held_out == [rows[1]]
    assert on_sources == [rows[0], rows[2]]
