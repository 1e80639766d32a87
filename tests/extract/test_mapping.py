"""``mapping.yml`` is read into a strict model: a misspelt key or a list where a mapping
belongs fails its own folder with the file and the key path, and every other folder loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from crm_followups.core.settings import Settings
from crm_followups.extract.load import load_exports
from crm_followups.extract.mapping import MappingError, load_mapping

FIXTURES = Path(__file__).parents[1] / "fixtures" / "exports"
GOOD_COLUMNS = "{communication_id: id, customer_id: who, occurred_at: at, body: text}"
MISSPELT_DELIMITER = f"""\
delimeter: ";"
objects:
  communications:
    columns: {GOOD_COLUMNS}
"""
LIST_FOR_A_MAPPING = f"""\
objects:
  communications:
    columns: {GOOD_COLUMNS}
  customers: [customer_id, name]
"""


def _folder(root: Path, name: str, mapping: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "mapping.yml").write_text(mapping, encoding="utf-8")
    (folder / "communications_1.csv").write_text("id;who;at;text\nM1;C1;2026-01-30T10:00:00Z;hello\n")
    return folder


@pytest.mark.parametrize(("mapping", "key", "says"), [
    (MISSPELT_DELIMITER, "delimeter", "unknown key (allowed here: channels, delimiter,"),
    (LIST_FOR_A_MAPPING, "objects.customers", "Input should be a valid dictionary"),
])
def test_a_bad_mapping_names_its_file_and_key(tmp_path: Path, mapping: str, key: str, says: str) -> None:
    folder = _folder(tmp_path, "acme", mapping)
    with pytest.raises(MappingError) as raised:
        load_mapping(folder)
    assert f"{folder / 'mapping.yml'}: {key}: {says}" in str(raised.value)


def test_an_unknown_canonical_field_lists_the_allowed_ones(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "acme", "objects:\n  communications:\n    columns: "
                                       "{communication_id: id, customer_id: who, occurred_at: at, "
                                       "mood: text}\n")
    with pytest.raises(MappingError, match=r"objects\.communications\.columns: unknown field\(s\) mood "
                                           r"\(allowed: communication_id, customer_id,"):
        load_mapping(folder)


def test_a_bad_mapping_fails_only_its_own_folder(settings: Settings) -> None:
    mapped = settings.exports_dir / "mapped"
    shutil.copytree(FIXTURES / "mapped" / "kingdee", mapped / "kingdee")
    _folder(mapped, "misspelt", MISSPELT_DELIMITER)
    _folder(mapped, "listed", LIST_FOR_A_MAPPING)

    summary = load_exports(settings).as_dict()

    with duckdb.connect(str(settings.warehouse_path)) as con:
        manifest = dict(con.execute("select file_path, status || ': ' || coalesce(error, '') "
                                    "from raw._load_manifest").fetchall())
    by_folder = {Path(path).parent.name: status for path, status in manifest.items()}
    assert by_folder["kingdee"] == "loaded: "
    assert "misspelt/mapping.yml: delimeter: unknown key" in by_folder["misspelt"]
    assert "listed/mapping.yml: objects.customers: Input should be a valid dictionary" in by_folder["listed"]
    assert summary["files_loaded"] == 2 and summary["files_failed"] == 2
