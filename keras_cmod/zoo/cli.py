"""`keras-cmod list`: the registry on the command line.

Light: the registry is plain data, so listing imports neither TensorFlow
nor Keras.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "list",
        help="list registered models",
        description="List registered model names (fnmatch filters).",
    )
    p.add_argument("filter", nargs="*", default=[],
                   help="fnmatch pattern(s), e.g. 'resnet*_cmod'")
    p.add_argument("--exclude", nargs="*", default=[],
                   help="fnmatch pattern(s) to drop")
    p.add_argument("--pretrained", action="store_true",
                   help="only names with published weights")
    p.add_argument("--tags", action="store_true",
                   help="list arch.tag names")
    p.set_defaults(func=_run)


def _run(args):
    from keras_cmod.zoo import registry

    names = registry.list_models(args.filter, pretrained=args.pretrained,
                            exclude_filters=args.exclude,
                            include_tags=args.tags or None)
    for name in names:
        print(name)
    if not names:
        print("(no model matches)" if not args.pretrained else
              "(no published weights match yet)")
    return 0
