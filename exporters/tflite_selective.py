"""Selective full-integer TFLite: int8 weights and activations everywhere except the ops a ViT
cannot take in 8 bits, which stay float32 (TensorFlow's QuantizationDebugger with
``denylisted_ops``, run on the SavedModel onnx2tf writes beside its .tflite files).

Why these ops: on the demo ViT and its 50 %-pruned, distilled variant (256 held-out CIFAR-10
images, fp32 TFLite as reference), onnx2tf's all-int8 file reached min cosine 0.76; int16
activations (TFLite's 16x8 scheme) did not help (0.73, and LiteRT has no int16
SQUARED_DIFFERENCE, so onnx2tf's 16x8 file does not run at all); keeping only the attention
products (BATCH_MATMUL: q·kᵀ and attn·v) in float gave 0.96, and with Softmax and LayerNorm's
MEAN / SQUARED_DIFFERENCE / RSQRT also in float 0.99 (top-1 agreement 98 %). The numbers and
the command that reproduces them: benchmarks/int8_tflite.py.

Run as a child process (TensorFlow stays out of the exporting process)::

    python -m exporters.tflite_selective SAVED_MODEL CALIB.npy OUT.tflite --batch 1
"""

from __future__ import annotations

import argparse
import os
import sys

FLOAT_OPS = ("BATCH_MATMUL", "SOFTMAX", "MEAN", "SQUARED_DIFFERENCE", "RSQRT")


def convert(saved_model: str, calib_path: str, out_path: str, batch: int,
            float_ops: tuple[str, ...] = FLOAT_OPS) -> None:
    import numpy as np
    import tensorflow as tf

    calib = np.load(calib_path).astype(np.float32)

    def representative():
        for start in range(0, len(calib) - batch + 1, batch):
            yield [calib[start:start + batch]]

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    # int8 kernels where allowed; the denylisted ops keep their float32 builtins
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=list(float_ops)))
    model = debugger.get_nondebug_quantized_model()
    tmp = out_path + ".partial"
    with open(tmp, "wb") as fh:
        fh.write(model)
    os.replace(tmp, out_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.tflite_selective")
    parser.add_argument("saved_model")
    parser.add_argument("calib", help="calibration images (.npy) in the model's input layout")
    parser.add_argument("out")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--float-ops", default=",".join(FLOAT_OPS))
    args = parser.parse_args(argv)
    convert(args.saved_model, args.calib, args.out, args.batch,
            tuple(op for op in args.float_ops.split(",") if op))
    return 0


if __name__ == "__main__":
    sys.exit(main())
