"""Release a trained zoo model: evaluate, write its card, push, record it.

Maintainer tool (not installed); it uses keras_cmod's public API only.

Usage:

    python scripts/release.py MODEL_DIR NAME.TAG REPO_ID \\
        [--dataset cifar10|imagenet2012|folder:/path] [--split SPLIT] \\
        [--data-dir DIR] [--manual-dir DIR] \\
        [--metrics accuracy,mfr,kl,consistency] [--num-images N] \\
        [--endpoint URL] [--revision BRANCH] [--private] [--dry-run] \\
        [--zoo-dir DIR] [--published-json PATH]

Steps:

1. Load MODEL_DIR (a saved `.keras` file, a `save_pretrained` / unzipped
   model directory, or `.weights.h5`) into the registry architecture of
   NAME.TAG: `keras_cmod.zoo.load(NAME.TAG, weights=MODEL_DIR)`.
2. Evaluate it with the paper's protocols
   (`keras_cmod.evaluation.evaluate.evaluate_model`; the dataset defaults to
   the tag's: `cifar10` test set or the ImageNet validation set).
3. Write the model card (`keras_cmod.hub.generate_model_card`, with the
   metrics) and save the Hub directory (`keras_cmod.hub.save_pretrained`).
4. Push it (`keras_cmod.hub.push_to_hub`) -> the commit sha. The token
   comes from `HF_TOKEN` or `hf auth login`, never from the command line.
5. Record repo, sha and metrics, each file written atomically:
   - a row of `zoo/results.csv` (replaced if NAME.TAG is already there);
   - `zoo/README.md`, regenerated from results.csv;
   - the entry of NAME.TAG in `keras_cmod/zoo/published.json`, the
     registry's published-weights table, so that the next
     `keras_cmod.zoo.load(NAME.TAG)` fetches exactly that commit.

`--dry-run` evaluates and prints the row and the entry it would record,
and neither pushes nor writes anything (but `--results-json`, if given).
Exit status: 0 on success, 2 on a usage, data or Hub error (one line on
stderr).
"""

import argparse
import csv
import datetime
import io
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_ZOO_DIR = ROOT / "zoo"
DEFAULT_PUBLISHED_JSON = ROOT / "keras_cmod" / "zoo" / "published.json"

#: Columns of zoo/results.csv. top1/top5: one-crop accuracy (%);
#: consistency: normalised mean flip rate (reference = 100, lower is
#: better); mean_kl: mean KL divergence over directions and half-pixel
#: shifts > 0; params: total parameters; macs: MACs per image at the
#: preset's input size; git_sha: keras-cmod commit used for the release.
COLUMNS = ("name.tag", "dataset", "top1", "top5", "consistency", "mean_kl",
           "params", "macs", "hf_repo", "revision", "git_sha", "date")
README_FIRST_LINE = "code lives in keras_cmod/zoo"
HUB_URL = "https://huggingface.co"


class ReleaseError(Exception):
    """A user error: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------
# Atomic files


def write_atomic(path, text):
    """Writes `text` to `path` via a temporary file and `os.replace`."""
    from keras_cmod.evaluation.results import write_text_atomic

    return pathlib.Path(write_text_atomic(path, text, newline=""))


# ---------------------------------------------------------------------------
# results.csv, README.md and published.json


def read_rows(path):
    """Rows of a results.csv (a list of dicts; [] if the file is missing)."""
    path = pathlib.Path(path)
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames and list(reader.fieldnames) != list(COLUMNS):
            raise ReleaseError(
                f"{path} has columns {reader.fieldnames}; expected "
                f"{list(COLUMNS)}."
            )
        return [dict(row) for row in reader]


def upsert_row(rows, row):
    """Replaces the row with the same name.tag, or appends `row`."""
    out = [r for r in rows if r["name.tag"] != row["name.tag"]]
    replaced = len(out) != len(rows)
    if replaced:
        index = next(i for i, r in enumerate(rows)
                     if r["name.tag"] == row["name.tag"])
        out.insert(index, row)
    else:
        out.append(row)
    return out


def format_rows(rows):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in COLUMNS})
    return buf.getvalue()


def _cell(value, fmt="{}", scale=1.0):
    if value in (None, ""):
        return "–"
    try:
        return fmt.format(float(value) / scale)
    except ValueError:
        return str(value)


def render_readme(rows):
    """zoo/README.md: the table of released models, from results.csv."""
    lines = [
        README_FIRST_LINE,
        "",
        "# keras-cmod zoo: released checkpoints",
        "",
        "This folder holds data only: `results.csv` (one row per released "
        "`name.tag`, written by `scripts/release.py`), this README "
        "(generated from it: do not edit by hand) and `recipes/`. The "
        "registry reads the published weights from "
        "`keras_cmod/zoo/published.json`.",
        "",
        "Top-1/top-5: one-crop accuracy (%). Consistency: the paper's "
        "normalised mean flip rate (reference model = 100, lower is "
        "better). Mean KL: KL divergence under half-pixel shifts, averaged "
        "over directions and shifts. MACs per image at the preset's input "
        "size.",
        "",
    ]
    if not rows:
        lines.append("No model has been released yet.")
        return "\n".join(lines) + "\n"
    lines += [
        "| model | dataset | top-1 | top-5 | consistency | mean KL | "
        "params (M) | GMACs | weights | released |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        repo, rev = r.get("hf_repo") or "", r.get("revision") or ""
        weights = (
            f"[{repo}@{rev[:8]}]({HUB_URL}/{repo}/tree/{rev})"
            if repo and rev else "–"
        )
        lines.append(
            f"| `{r['name.tag']}` | {r.get('dataset') or '–'} | "
            f"{_cell(r.get('top1'), '{:.2f}')} | "
            f"{_cell(r.get('top5'), '{:.2f}')} | "
            f"{_cell(r.get('consistency'), '{:.1f}')} | "
            f"{_cell(r.get('mean_kl'), '{:.4f}')} | "
            f"{_cell(r.get('params'), '{:.2f}', 1e6)} | "
            f"{_cell(r.get('macs'), '{:.3f}', 1e9)} | {weights} | "
            f"{r.get('date') or '–'} |"
        )
    lines += [
        "",
        "Load a released model (the registry pins the commit above):",
        "",
        "```python",
        "import keras_cmod",
        "",
        f'model = keras_cmod.zoo.load("{rows[0]["name.tag"]}")',
        "```",
    ]
    return "\n".join(lines) + "\n"


def update_published(path, name, entry):
    """Adds or replaces `name` in a published.json; returns the text."""
    from keras_cmod import zoo

    table = zoo.read_published(path)  # validates the existing entries
    table[name] = entry
    text = json.dumps(dict(sorted(table.items())), indent=2) + "\n"
    return text


# ---------------------------------------------------------------------------
# The release


def _git_sha():
    try:
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain",
             "--untracked-files=no"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def _check_name(name):
    from keras_cmod import zoo

    if "." not in name:
        raise ReleaseError(
            f"NAME.TAG must include the weights tag (e.g. {name}.cifar10 or "
            f"{name}.in1k). Received: {name!r}"
        )
    cfg = zoo.get_pretrained_cfg(name)  # ValueError for unknown names
    return cfg


def card_metrics(results):
    """The model-card / registry metrics of an evaluation."""
    m = results["metrics"]
    summary = m["summary"]
    protocols = results["protocols"]
    split = results.get("split")
    metrics = {"dataset": {"id": results.get("dataset"), "split": split}}
    protocol = {}
    for key, source, proto in (
        ("top1", "top1", "one_crop"),
        ("top5", "top5", "one_crop"),
        ("top1_ten_crop", "top1_ten_crop", "ten_crop"),
        ("mfr", "mfr", "flip_rate"),
        ("consistency", "consistency", "flip_rate"),
        ("kl", "mean_kl", "kl_half_pixel"),
        ("zhang_consistency", "zhang_consistency", "zhang_consistency"),
    ):
        if summary.get(source) is not None:
            metrics[key] = summary[source]
            if proto in protocols:
                protocol[key] = protocols[proto]["description"]
    metrics["protocol"] = protocol
    return metrics


def registry_metrics(results):
    """Flat metrics stored in published.json."""
    summary = dict(results["metrics"]["summary"])
    out = {"dataset": results.get("dataset"), "split": results.get("split")}
    out.update(summary)
    counts = [p.get("num_images") for p in results["protocols"].values()]
    out["num_images"] = counts[0] if counts else None
    if "consistency" in results["metrics"]:
        out["consistency_reference"] = results["metrics"]["consistency"][
            "reference"]
    out["normalize_shift_frames"] = results["extra"].get(
        "normalize_shift_frames")
    return out


def _fmt(value, fmt):
    return "" if value is None else fmt.format(value)


def make_row(name, results, params, macs, repo_id, revision, git_sha,
             date):
    summary = results["metrics"]["summary"]
    dataset = results.get("dataset") or ""
    if results.get("split"):
        dataset = f"{dataset}:{results['split']}"
    return {
        "name.tag": name,
        "dataset": dataset,
        "top1": _fmt(summary.get("top1"), "{:.4f}"),
        "top5": _fmt(summary.get("top5"), "{:.4f}"),
        "consistency": _fmt(summary.get("consistency"), "{:.4f}"),
        "mean_kl": _fmt(summary.get("mean_kl"), "{:.6g}"),
        "params": str(params),
        "macs": str(macs),
        "hf_repo": repo_id,
        "revision": revision,
        "git_sha": git_sha,
        "date": date,
    }


def release(args):
    from keras_cmod import evaluation, hub, zoo
    from keras_cmod.evaluation.evaluate import evaluate_model

    name = args.name
    cfg = _check_name(name)
    hub.validate_repo_id(args.repo_id)
    zoo_dir = pathlib.Path(args.zoo_dir)
    published_path = pathlib.Path(args.published_json)
    results_csv = zoo_dir / "results.csv"
    rows = read_rows(results_csv)  # fail early on a malformed file
    zoo.read_published(published_path)
    dataset = args.dataset or cfg.dataset

    print(f"loading {args.model_dir} as {name}")
    model = zoo.load(name, weights=args.model_dir)
    results = evaluate_model(
        model, dataset, split=args.split, data_dir=args.data_dir,
        manual_dir=args.manual_dir, metrics=args.metrics,
        num_images=args.num_images, batch_size=args.batch_size,
        normalize_shifts=not args.unnormalized_shifts,
        reference=args.reference, model_name=name,
        progress=args.progress,
        extra={"weights": {"kind": "local",
                           "path": os.path.abspath(args.model_dir)}},
    )
    if args.results_json:
        evaluation.write_results(results, args.results_json)
    params = evaluation.count_params(model)["total"]
    macs = evaluation.model_macs(model)["total"]
    metrics = card_metrics(results)

    pretrained_cfg = cfg.to_dict()
    for key in ("revision", "weights_sha256", "metrics"):
        pretrained_cfg.pop(key, None)
    pretrained_cfg["hf_hub_id"] = args.repo_id
    card = hub.generate_model_card(pretrained_cfg, metrics,
                                   repo_id=args.repo_id, model=model)
    git_sha = _git_sha()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")

    with tempfile.TemporaryDirectory(prefix="keras_cmod_release_") as tmp:
        directory = hub.save_pretrained(
            model, pathlib.Path(tmp) / "model",
            pretrained_cfg=pretrained_cfg, metrics=metrics,
            model_card=card, repo_id=args.repo_id,
        )
        weights_sha256 = hub.read_pretrained_cfg(directory)["weights_sha256"]
        if args.dry_run:
            revision = "<dry-run>"
        else:
            revision = str(hub.push_to_hub(
                str(directory), args.repo_id, revision=args.revision,
                private=args.private, endpoint=args.endpoint,
                commit_message=args.commit_message
                or f"Release {name} (keras-cmod, {git_sha[:12]})",
                overwrite_model_card=args.overwrite_model_card,
            ))
            print(f"pushed {args.repo_id}@{revision}")

    row = make_row(name, results, params, macs, args.repo_id, revision,
                   git_sha, date)
    entry = {
        "hf_hub_id": args.repo_id,
        "revision": revision,
        "weights_sha256": weights_sha256,
        "metrics": registry_metrics(results),
    }
    if args.dry_run:
        print("dry run: nothing pushed, nothing written")
        print(f"{results_csv} row: {json.dumps(row)}")
        print(f"{published_path} entry {name!r}: {json.dumps(entry)}")
        return 0
    rows = upsert_row(rows, row)
    write_atomic(results_csv, format_rows(rows))
    write_atomic(zoo_dir / "README.md", render_readme(rows))
    write_atomic(published_path,
                 update_published(published_path, name, entry))
    print(f"recorded {name} -> {args.repo_id}@{revision} in {results_csv} "
          f"and {published_path}")
    return 0


def build_parser():
    p = argparse.ArgumentParser(
        prog="release.py",
        description="Evaluate a trained zoo model, write its card, push it "
        "to the Hub and record repo + commit + metrics in zoo/results.csv, "
        "zoo/README.md and keras_cmod/zoo/published.json.",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR",
                   help="a .keras file, a model directory or .weights.h5")
    p.add_argument("name", metavar="NAME.TAG",
                   help="registry name with tag, e.g. resnet18_cmod.cifar10")
    p.add_argument("repo_id", metavar="REPO_ID", help="org/name on the Hub")
    p.add_argument("--dataset",
                   help="cifar10, imagenet2012 or folder:/path (default: "
                   "the tag's dataset)")
    p.add_argument("--split", help="TFDS split (default: the test set)")
    p.add_argument("--data-dir", help="TFDS data directory")
    p.add_argument("--manual-dir", help="folder with the ILSVRC2012 tars")
    p.add_argument("--metrics", default="accuracy,mfr,kl,consistency",
                   help="comma-separated (default: %(default)s)")
    p.add_argument("--num-images", type=int, metavar="N",
                   help="evaluate only the first N images (tests)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--unnormalized-shifts", action="store_true",
                   help="shift metrics on raw [0, 1] frames")
    p.add_argument("--reference", help="consistency reference (paper id or "
                   "JSON of raw per-direction mFR)")
    p.add_argument("--results-json",
                   help="also write the full evaluation results there")
    p.add_argument("--endpoint", help="Hub URL (default: HF_ENDPOINT)")
    p.add_argument("--revision", help="branch to push to (default: main)")
    p.add_argument("--private", action="store_true", default=None,
                   help="create the repo private")
    p.add_argument("--commit-message")
    p.add_argument("--overwrite-model-card", action="store_true",
                   help="replace a README.md already in the repo")
    p.add_argument("--dry-run", action="store_true",
                   help="evaluate only: push nothing, write nothing")
    p.add_argument("--zoo-dir", default=str(DEFAULT_ZOO_DIR),
                   help="folder of results.csv and README.md (default: "
                   "the repository's zoo/)")
    p.add_argument("--published-json", default=str(DEFAULT_PUBLISHED_JSON),
                   help="the registry's published table (default: "
                   "keras_cmod/zoo/published.json)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from keras_cmod.cli import CommandError
    from keras_cmod.hub import HubError

    try:
        return release(args)
    except (ReleaseError, CommandError, HubError, ValueError,
            FileNotFoundError) as exc:
        print(f"release.py: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
