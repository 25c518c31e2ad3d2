"""Export a model saved by `kagdigits fit --save` to ONNX, for onnxruntime and other runtimes.

The graph takes float32 pixels of shape (batch, 1, 28, 28), any batch size, scaled as the
estimators scale integer pixels: grey levels 0..255 divided by 255 (ink high, as in Kaggle's
CSVs). Its outputs are `probabilities` (batch, n_classes) and `label` (batch,); the class
labels are in its metadata (`classes`). An ensemble becomes one graph (the mean of its
members). Before the file is written the export is run by onnxruntime on 256 real digits
and must give the same labels as PyTorch in float32 and probabilities within 1e-4.
Needs the serve extra: pip install -e ".[serve]".
"""

from pathlib import Path

from kagdigits.cli.args import add_force_argument

HELP = "export a .kd model to ONNX, checked with onnxruntime"


def add_arguments(parser):
    parser.add_argument("model", type=Path, metavar="MODEL.kd",
                        help="model file written by `kagdigits fit --save`")
    parser.add_argument("--onnx", type=Path, required=True, metavar="PATH",
                        help="the ONNX file to write, e.g. models/lenet5.onnx")
    parser.add_argument("--check", type=Path, metavar="CSV",
                        help="a test.csv-layout file of real images to check the export on "
                             "(default: 256 demo MNIST digits; needed for 3x32x32 models)")
    add_force_argument(parser, "the --onnx file")


def run(args):
    from kagdigits.files.kaggle_csv import read_test_csv
    from kagdigits.runs.onnx import export_onnx
    from kagdigits.runs.persist import load_model, model_name

    estimator = load_model(args.model, device="cpu")
    images = None if args.check is None else read_test_csv(args.check)
    check = export_onnx(estimator, args.onnx, images=images, overwrite=args.force)
    print(f"Exported {args.model} ({model_name(estimator)}); outputs: "
          f"{', '.join(check.outputs)}. Checked with onnxruntime on {check.n_images} "
          f"{'images' if args.check else 'demo digits'}: same labels as PyTorch (fp32), "
          f"probabilities within {check.max_difference:.1e}")
    print(check.path)
