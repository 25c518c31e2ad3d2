"""Arguments and steps shared by the sub-commands that train models."""

from kagdigits.errors import KagdigitsError


def add_training_arguments(parser):
    """--model, --epochs, --device, --seed and --set."""
    parser.add_argument("--model", default="lenet5",
                        help="registered model name (see `kagdigits models`), default lenet5")
    parser.add_argument("--epochs", type=int, default=None,
                        help="maximum number of epochs (default: the model's own)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu or cuda; default auto")
    parser.add_argument("--seed", type=int, default=0, help="random seed, default 0")
    parser.add_argument("--set", dest="params", action="append", default=[],
                        metavar="NAME=VALUE",
                        help="set an estimator parameter, e.g. --set module__dropout=0.3 "
                             "or --set lr=1e-3 (repeatable)")


def parse_value(text):
    """Interpret a --set value as a Python literal when it is one, else as a string."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_params(pairs):
    """``["lr=1e-3", "module__dropout=0.3"]`` -> ``{"lr": 0.001, "module__dropout": 0.3}``."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise KagdigitsError(f"--set {pair!r} is not NAME=VALUE; e.g. --set lr=1e-3")
        params[name.strip()] = parse_value(value.strip())
    return params


def build_estimator(args, **overrides):
    """The estimator named by ``args.model`` with the CLI's settings applied."""
    from kagdigits.device import resolve_device
    from kagdigits.estimators import get_estimator_class

    try:
        cls = get_estimator_class(args.model)
    except ValueError as exc:
        raise KagdigitsError(str(exc)) from None
    resolve_device(args.device)  # fail early and clearly on an unusable device
    estimator = cls(device=args.device, random_state=args.seed)
    params = {**parse_params(args.params), **overrides}
    if args.epochs is not None:
        params["max_epochs"] = args.epochs
    try:
        estimator.set_params(**params)
    except (ValueError, TypeError) as exc:
        raise KagdigitsError(f"--set: {exc}") from None
    return estimator
