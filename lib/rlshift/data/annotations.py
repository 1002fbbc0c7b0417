"""Human annotation sheets: the notebook exports a CSV, people fill in a column, the notebook
reads it back, and the analysis runs on whatever annotations exist.

Re-exporting never discards labels already written; reading checks ids and labels and names
the file and row of anything wrong.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from rlshift import paths
from rlshift.errors import InputError


SHEET_COLUMNS = ("label", "notes")  # what an exported sheet has besides the id and the shown columns


def check_sheet(path: str | Path, id_column: str = "item_id") -> Path:
    """An annotation sheet path: new (its folder is made on export), or a sheet this project
    exported (a CSV with the id, label and notes columns). Anything else is refused, untouched."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"annotation sheet {str(path)!r} is a folder. Accepted: a CSV file path (new, or a sheet "
                         f"exported by the notebook).")
    if path.exists():
        try:
            header = pd.read_csv(path, dtype=str, nrows=0).columns
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
            header = []
            reason = f"it does not read as CSV ({type(err).__name__})"
        else:
            reason = f"its columns are {list(header)[:5]}"
        if not {id_column, *SHEET_COLUMNS} <= set(header):
            raise InputError(f"annotation sheet {str(path)!r} is not an annotation sheet ({reason}); it is left "
                             f"untouched. Accepted: a new CSV path, or a sheet exported by the notebook "
                             f"(columns {id_column}, ..., label, notes).")
    else:
        paths.check_folder_to_make(path.parent, "annotation sheet's folder")
    return path


def export_sheet(frame: pd.DataFrame, path: str | Path, id_column: str = "item_id",
                 show: Sequence[str] = ("prompt", "response")) -> Path:
    """Write (or extend) a sheet with an empty `label` and `notes` per item; keeps old labels."""
    path = check_sheet(path, id_column)
    sheet = frame[[id_column, *show]].copy()
    sheet["label"], sheet["notes"] = "", ""
    if path.exists():
        old = pd.read_csv(path, dtype=str, keep_default_na=False)
        sheet = sheet.set_index(id_column)
        old = old.set_index(id_column)
        keep = old.index.intersection(sheet.index)
        sheet.loc[keep, ["label", "notes"]] = old.loc[keep, ["label", "notes"]]
        sheet = sheet.reset_index()
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.to_csv(path, index=False)
    return path


def read_sheet(path: str | Path, expected_ids: Sequence[str], labels: Sequence[str],
               id_column: str = "item_id") -> pd.DataFrame:
    """The annotated rows (id, label, notes); empty labels are 'not yet annotated'."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=[id_column, "label", "notes"])
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {id_column, "label"} - set(sheet.columns)
    if missing:
        raise InputError(f"annotation sheet {path}: missing columns {sorted(missing)}; it needs "
                         f"{id_column} and label.")
    unknown = sorted(set(sheet[id_column]) - set(map(str, expected_ids)))
    if unknown:
        raise InputError(f"annotation sheet {path}: {len(unknown)} unknown ids ({', '.join(unknown[:3])}"
                         f"{', ...' if len(unknown) > 3 else ''}); accepted are the ids the notebook "
                         f"exported (re-export the sheet rather than editing ids).")
    filled = sheet[sheet["label"].str.strip() != ""].copy()
    filled["label"] = filled["label"].str.strip()
    bad = filled[~filled["label"].isin(labels)]
    if len(bad):
        row = int(bad.index[0]) + 2  # 1-based, after the header line
        raise InputError(f"annotation sheet {path}, row {row}: label {bad['label'].iloc[0]!r} is not "
                         f"accepted. Accepted: {', '.join(labels)} (or empty for not yet annotated).")
    return filled[[id_column, "label"] + (["notes"] if "notes" in filled else [])].reset_index(drop=True)
