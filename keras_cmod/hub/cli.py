"""`keras-cmod push / pull / info`: the Hub sub-commands.

`keras_cmod.cli` imports this module and calls `register(subparsers)`. Each
command's `func(args)` returns an exit code; Hub errors that are not
already `ValueError` / `FileNotFoundError` (which the main CLI prints as
one line) are turned into `keras_cmod.cli.CommandError` for the same
treatment. Tokens are never taken on the command line (they would end up in
the shell history and in `ps`): use `HF_TOKEN` or `hf auth login`.
"""

import json

from keras_cmod.hub import errors

__all__ = [
    "register",
    "run_push",
    "run_pull",
    "run_info",
    "resolve_info_target",
    "format_info",
]


def _command_error(exc):
    if isinstance(exc, (ValueError, FileNotFoundError)):
        return exc
    from keras_cmod.cli import CommandError

    return CommandError(str(exc))


def _run(fn):
    try:
        return fn()
    except errors.HubError as exc:
        new = _command_error(exc)
        if new is exc:
            raise
        raise new from exc


def _seconds(text):
    import argparse

    from keras_cmod.hub._deadline import resolve_timeout

    try:
        return resolve_timeout(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_timeout(parser):
    from keras_cmod.hub._deadline import DEFAULT_TIMEOUT, ENV_VAR

    parser.add_argument(
        "--timeout", type=_seconds, metavar="SECONDS",
        help="give up on a Hub request that makes no progress for this "
        f"long, retries included (default: {ENV_VAR}, else "
        f"{DEFAULT_TIMEOUT:g})",
    )


def register(subparsers):
    """Add the `push`, `pull` and `info` sub-commands."""
    from keras_cmod.hub._common import DEFAULT_COMMIT_MESSAGE

    push = subparsers.add_parser(
        "push",
        help="upload a saved model directory to a Hugging Face Hub repo",
        description=(
            "Upload MODEL_DIR (written by keras_cmod.hub.save_pretrained or "
            "model.save(dir, zipped=False)) to REPO_ID in one commit. The "
            "repo is created if needed; an existing README.md is kept "
            "unless --overwrite-model-card. The token comes from HF_TOKEN "
            "or `hf auth login`."
        ),
    )
    push.add_argument("model_dir", metavar="MODEL_DIR")
    push.add_argument("repo_id", metavar="REPO_ID", help="org/name")
    push.add_argument("--revision", help="branch (created if missing)")
    push.add_argument(
        "--private", action="store_true", default=None,
        help="make the repo private if it is created",
    )
    push.add_argument(
        "--create-pr", action="store_true",
        help="open a pull request instead of committing to the branch",
    )
    push.add_argument("--commit-message", default=DEFAULT_COMMIT_MESSAGE)
    push.add_argument("--endpoint", help="Hub URL (default: HF_ENDPOINT)")
    push.add_argument(
        "--overwrite-model-card", action="store_true",
        help="replace a README.md that already exists in the repo",
    )
    _add_timeout(push)
    push.set_defaults(func=run_push)

    pull = subparsers.add_parser(
        "pull",
        help="download a model's files into the Hugging Face cache",
        description=(
            "Download SOURCE (org/name[@rev], hf-hub:org/name[@rev] or "
            "hf://org/name) into the cache and verify its sha256 hashes; "
            "prints the snapshot directory. Pin a commit sha to be able to "
            "load it offline later (--local-files-only / HF_HUB_OFFLINE=1)."
        ),
    )
    pull.add_argument("source", metavar="SOURCE[@rev]")
    pull.add_argument("--revision", help="branch, tag or commit sha")
    pull.add_argument("--cache-dir", help="default: HF_HUB_CACHE")
    pull.add_argument(
        "--local-files-only", action="store_true",
        help="make no network request; only check the cache",
    )
    pull.add_argument("--endpoint", help="Hub URL (default: HF_ENDPOINT)")
    pull.add_argument(
        "--no-progress", dest="progress", action="store_false",
        help="hide the download progress bars",
    )
    _add_timeout(pull)
    pull.set_defaults(func=run_pull)

    info = subparsers.add_parser(
        "info",
        help="describe a model: config, weights source/revision, cache, "
        "metrics",
        description=(
            "Describe NAME (a Hub source or a local model directory) "
            "without downloading its weights."
        ),
    )
    info.add_argument("name", metavar="NAME")
    info.add_argument("--revision", help="branch, tag or commit sha")
    info.add_argument("--cache-dir", help="default: HF_HUB_CACHE")
    info.add_argument("--local-files-only", action="store_true")
    info.add_argument("--endpoint", help="Hub URL (default: HF_ENDPOINT)")
    info.add_argument("--json", action="store_true", help="print JSON")
    _add_timeout(info)
    info.set_defaults(func=run_info)
    return subparsers


def run_push(args):
    from keras_cmod.hub.saving import push_to_hub

    def push():
        return push_to_hub(
            args.model_dir,
            args.repo_id,
            revision=args.revision,
            private=args.private,
            create_pr=args.create_pr,
            commit_message=args.commit_message,
            endpoint=args.endpoint,
            overwrite_model_card=args.overwrite_model_card,
            timeout=getattr(args, "timeout", None),
        )

    commit = _run(push)
    print(f"pushed {args.repo_id}@{commit}")
    if commit.pr_url:
        print(f"pull request: {commit.pr_url}")
    return 0


def run_pull(args):
    from keras_cmod.hub.loading import download, local_model_path
    from keras_cmod.hub.sources import HUB, resolve_source

    def pull():
        kind, location, revision = resolve_source(args.source, args.revision)
        if kind != HUB:
            return local_model_path(location)  # nothing to fetch; verified
        return download(
            location,
            revision,
            cache_dir=args.cache_dir,
            local_files_only=args.local_files_only,
            endpoint=args.endpoint,
            progress=args.progress,
            timeout=getattr(args, "timeout", None),
        )

    print(_run(pull))
    return 0


def resolve_info_target(name, revision=None):
    """Map the `info` NAME to a `Source` (kind, repo_id or path, revision).

    Registry names (`resnet34_cmod`, `resnet34_cmod.in1k`) resolve to the
    Hub repository and pinned commit recorded for their tag; anything else
    is a Hub source or a local directory.
    """
    from keras_cmod import zoo
    from keras_cmod.hub.sources import resolve_source

    if zoo.is_model(name):
        cfg = zoo.get_pretrained_cfg(name)
        if cfg.has_weights:
            return resolve_source(f"hf-hub:{cfg.hf_hub_id}",
                                  revision or cfg.revision)
    return resolve_source(name, revision)


def registry_info_lines(name):
    """Lines describing a registry name whose weights are not published."""
    from keras_cmod import zoo

    cfg = zoo.get_pretrained_cfg(name)
    d = cfg.to_dict()
    return [
        f"name:           {cfg.name} (keras-cmod registry)",
        f"description:    {cfg.description}",
        f"model kwargs:   {json.dumps(cfg.model_kwargs, sort_keys=True)}",
        f"input size:     {tuple(cfg.input_size)}, {cfg.num_classes} "
        f"classes ({cfg.dataset})",
        f"preprocessing:  mean {d['mean']}, std {d['std']}, crop_pct "
        f"{cfg.crop_pct}, {cfg.interpolation}",
        f"weights:        none published yet (train: keras-cmod train "
        f"--model {cfg.name} ...; convert a PyTorch checkpoint; or "
        f"keras_cmod.zoo.load({cfg.name!r}, weights=path))",
    ]


def format_info(info):
    """Human-readable lines for a `describe()` dict."""
    lines = []
    if info["kind"] == "hub":
        lines.append(f"source:         Hub repo {info['location']}")
        rev = info["revision"] or "main"
        commit = info["commit"]
        lines.append(
            f"revision:       {rev}"
            + (f" (commit {commit})" if commit and commit != rev else "")
        )
        lines.append(
            "cached:         " + ("yes" if info["cached"] else "no")
            + " (weights)"
        )
    else:
        lines.append(f"source:         local directory {info['location']}")
    if info["local_dir"]:
        lines.append(f"local dir:      {info['local_dir']}")
    config = info["config"]
    if config:
        text = f"{config['class_name']} {config['name']!r}"
        if config["registered_name"] and config["registered_name"] != (
            config["class_name"]
        ):
            text += f" [{config['registered_name']}]"
        if config["num_layers"] is not None:
            text += f", {config['num_layers']} layers"
        lines.append(f"model:          {text}")
    else:
        lines.append("model:          unknown (config.json not available)")
    if info["keras_version"]:
        lines.append(f"saved by keras: {info['keras_version']}")
    if info["weights_sha256"]:
        lines.append(f"weights sha256: {info['weights_sha256']}")
    metrics = info["metrics"]
    if metrics:
        lines.append("metrics:        " + json.dumps(metrics, sort_keys=True))
    cfg = {
        k: v for k, v in (info["pretrained_cfg"] or {}).items()
        if k not in ("weights_sha256", "keras_version", "format")
    }
    if cfg:
        lines.append("pretrained_cfg: " + json.dumps(cfg, sort_keys=True))
    return lines


def run_info(args):
    from keras_cmod import zoo
    from keras_cmod.hub.loading import describe
    from keras_cmod.hub.sources import is_source
    from keras_cmod.zoo.registry import unknown_name_error

    if not zoo.is_model(args.name) and not is_source(args.name):
        # Not a source either: most likely a misspelled registry name.
        raise unknown_name_error(args.name)

    if zoo.is_model(args.name) and not zoo.get_pretrained_cfg(
        args.name
    ).has_weights:
        if args.json:
            out = zoo.get_pretrained_cfg(args.name).to_dict()
            print(json.dumps(out, indent=2, sort_keys=True))
        else:
            print("\n".join(registry_info_lines(args.name)))
        return 0

    def info():
        target = resolve_info_target(args.name, args.revision)
        return describe(
            target,
            cache_dir=args.cache_dir,
            local_files_only=args.local_files_only,
            endpoint=args.endpoint,
            timeout=getattr(args, "timeout", None),
        )

    result = _run(info)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print("\n".join(format_info(result)))
    return 0
