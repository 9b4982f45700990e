"""Checks bayesnn's exported TorchScript files from Python (run by tests/export_test.cpp).

usage: check_export.py DIR DOC

DIR holds posterior_mean.pt, predictive.pt and references.pt (written by the C++ test: the
input, the C++ posterior-mean output, and the C++ Monte Carlo predictive with its per-element
standard error). DOC is docs/export.md: its Python snippet is run verbatim in DIR.
Exits non-zero with a message on the first failed check.
"""
import json
import os
import re
import sys

import torch


def fail(message):
    print("check_export.py: FAILED: " + message)
    sys.exit(1)


def main():
    directory, doc = sys.argv[1], sys.argv[2]
    os.chdir(directory)
    torch.manual_seed(0)
    refs = torch.jit.load("references.pt")
    images = refs.input

    # The documented snippet, verbatim.
    with open(doc) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    if len(blocks) != 1:
        fail("expected one ```python block in %s, found %d" % (doc, len(blocks)))
    scope = {"images": images}
    exec(blocks[0], scope)

    logits = scope["logits"]
    diff = (logits - refs.mean_output).abs().max().item()
    print("posterior mean: max abs diff to C++ = %.3g" % diff)
    if diff > 1e-5:
        fail("posterior-mean output differs from C++ by %g > 1e-5" % diff)

    out = scope["out"]
    if sorted(out.keys()) != ["entropy", "mutual_information", "probs"]:
        fail("predictive keys are %s" % sorted(out.keys()))
    n, c = refs.probs.shape
    if list(out["probs"].shape) != [n, c] or list(out["entropy"].shape) != [n] or \
            list(out["mutual_information"].shape) != [n]:
        fail("predictive shapes %s %s %s, expected [%d, %d], [%d], [%d]" % (
            list(out["probs"].shape), list(out["entropy"].shape),
            list(out["mutual_information"].shape), n, c, n, n))
    if (out["probs"].sum(-1) - 1).abs().max().item() > 1e-5:
        fail("predictive probs do not sum to 1")

    # Many samples: the Python-side estimate against the C++ Monte Carlo estimate, each
    # element within 5 standard errors of the difference of the two estimates.
    samples = int(refs.samples.item())
    probs = scope["predictive"](images, samples)["probs"]
    se = refs.probs_se * (2.0 ** 0.5)
    z = ((probs - refs.probs).abs() / se.clamp(min=1e-6)).max().item()
    print("predictive: %d samples, max |z| of probs vs C++ = %.2f (tolerance 5)" % (samples, z))
    if z > 5:
        fail("predictive probs differ from the C++ Monte Carlo estimate (max |z| = %.2f)" % z)

    metadata = scope["metadata"]
    if metadata.get("format") != "bayesnn.predictive" or metadata.get("samples") is None:
        fail("unexpected metadata %s" % json.dumps(metadata)[:500])
    print("metadata: bayesnn %s, %d layers" % (metadata["bayesnn_version"],
                                              len(metadata["layers"])))
    print("check_export.py: OK")


if __name__ == "__main__":
    main()
