"""Human annotation sheets: the notebook exports a CSV, people fill in its label columns (one,
`label`, or several, e.g. one per aspect), the notebook reads it back, and the analysis runs on
whatever annotations exist. Several annotators each fill their own copy.

Re-exporting never discards labels already written; reading checks ids and labels and names
the file, row and column of anything wrong.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from rlshift import paths
from rlshift.errors import InputError


def check_sheet(path: str | Path, id_column: str = "item_id", label_columns: Sequence[str] = ("label",)) -> Path:
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
        if not {id_column, *label_columns, "notes"} <= set(header):
            raise InputError(f"annotation sheet {str(path)!r} is not an annotation sheet ({reason}); it is left "
                             f"untouched. Accepted: a new CSV path, or a sheet exported by the notebook "
                             f"(columns {id_column}, ..., {', '.join(label_columns)}, notes).")
    else:
        paths.check_folder_to_make(path.parent, "annotation sheet's folder")
    return path


def export_sheet(frame: pd.DataFrame, path: str | Path, id_column: str = "item_id",
                 show: Sequence[str] = ("prompt", "response"), label_columns: Sequence[str] = ("label",)) -> Path:
    """Write (or extend) a sheet with empty label columns and `notes` per item; keeps old labels.
    Labelled rows of items the new frame lacks move to `<sheet>.set-aside.csv` (nothing written is
    lost, and the sheet keeps only ids the notebook accepts)."""
    path = check_sheet(path, id_column, label_columns)
    written = [*label_columns, "notes"]
    sheet = frame[[id_column, *show]].astype({id_column: str}).copy()
    for column in written:
        sheet[column] = ""
    if path.exists():
        old = pd.read_csv(path, dtype=str, keep_default_na=False).set_index(id_column)
        sheet = sheet.set_index(id_column)
        keep = old.index.intersection(sheet.index)
        sheet.loc[keep, written] = old.loc[keep, written]
        gone = old.loc[old.index.difference(sheet.index)]
        gone = gone[(gone[[c for c in written if c in gone]] != "").any(axis=1)]  # labelled, no longer exported
        if len(gone):
            aside = path.with_suffix(".set-aside.csv")
            if aside.exists():
                gone = pd.concat([pd.read_csv(aside, dtype=str, keep_default_na=False).set_index(id_column), gone])
            gone[~gone.index.duplicated(keep="last")].reset_index().to_csv(aside, index=False)
        sheet = sheet.reset_index()
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.to_csv(path, index=False)
    return path


def read_sheet(path: str | Path, expected_ids: Sequence[str], labels: Sequence[str] | dict[str, Sequence[str]],
               id_column: str = "item_id") -> pd.DataFrame:
    """The annotated rows (id, label columns, notes): rows with at least one label; an empty label
    is 'not yet annotated'. `labels`: the accepted values of the `label` column, or a dict of
    label column -> accepted values."""
    accepted = dict(labels) if isinstance(labels, dict) else {"label": list(labels)}
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=[id_column, *accepted, "notes"])
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {id_column, *accepted} - set(sheet.columns)
    if missing:
        raise InputError(f"annotation sheet {path}: missing columns {sorted(missing)}; it needs "
                         f"{id_column} and {', '.join(accepted)}.")
    unknown = sorted(set(sheet[id_column]) - set(map(str, expected_ids)))
    if unknown:
        raise InputError(f"annotation sheet {path}: {len(unknown)} unknown ids ({', '.join(unknown[:3])}"
                         f"{', ...' if len(unknown) > 3 else ''}); accepted are the ids the notebook "
                         f"exported (re-export the sheet rather than editing ids).")
    for column in accepted:
        sheet[column] = sheet[column].str.strip()
    filled = sheet[(sheet[list(accepted)] != "").any(axis=1)].copy()
    for column, values in accepted.items():
        bad = filled[(filled[column] != "") & ~filled[column].isin(values)]
        if len(bad):
            row = int(bad.index[0]) + 2  # 1-based, after the header line
            name = "label" if column == "label" else f"column {column!r}:"
            raise InputError(f"annotation sheet {path}, row {row}: {name} {bad[column].iloc[0]!r} is not "
                             f"accepted. Accepted: {', '.join(values)} (or empty for not yet annotated).")
    return filled[[id_column, *accepted] + (["notes"] if "notes" in filled else [])].reset_index(drop=True)
