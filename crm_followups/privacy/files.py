"""Published files without a customer: the outbox CSV loses the customer's task rows, the HTML
report the rows of its follow-up table that name them. The same text functions rewrite the
files in the data folder and their copies in MLflow."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable
from pathlib import Path

from crm_followups.core.files import write_atomically

OUTBOX_ID_COLUMN = "CustomerId"


def without_customer_csv(text: str, customer_id: str) -> str:
    """The outbox CSV without the rows whose ``CustomerId`` is the customer (also in the
    formula-neutralised spelling, with a leading quote); other rows byte for byte as read."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or OUTBOX_ID_COLUMN not in rows[0]:
        return text
    position = rows[0].index(OUTBOX_ID_COLUMN)
    kept = [row for row in rows[1:] if row[position] not in (customer_id, f"'{customer_id}")]
    if len(kept) == len(rows) - 1:
        return text
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([rows[0], *kept])
    return out.getvalue()


def without_customer_html(text: str, customer_id: str) -> str:
    """The report without the table rows holding a cell that is exactly the customer id."""
    cell = re.escape(f"<td>{html.escape(customer_id)}</td>")
    return re.sub(rf"<tr>(?:(?!</tr>).)*?{cell}(?:(?!</tr>).)*?</tr>\s*", "", text, flags=re.S)


REWRITERS: dict[str, Callable[[str, str], str]] = {".csv": without_customer_csv,
                                                   ".html": without_customer_html}


def rewrite_without_customer(path: Path, customer_id: str) -> bool:
    """Rewrite ``path`` (atomically) without the customer; True when it mentioned them."""
    rewrite = REWRITERS.get(path.suffix.lower())
    if rewrite is None:
        return False
    text = path.read_text(encoding="utf-8")
    cleaned = rewrite(text, customer_id)
    if cleaned == text:
        return False
    write_atomically(path, lambda temp: temp.write_text(cleaned, encoding="utf-8", newline=""))
    return True
