"""Evaluation: the paper's protocols and metrics, runnable on any engine's output.

* :mod:`.camera` - camera correctness from the head-pose change between last frames (paper 4.3);
* :mod:`.metrics` - PSNR, SSIM, LPIPS (static protocol);
* :mod:`.identity` - identity similarity (ArcFace ONNX when given, else SFace);
* :mod:`.artifacts` - flat or smeared face area of an output against its input;
* :mod:`.video_quality` - weight-free video-quality scores, named as ours (not VBench);
* :mod:`.dynamic` - the dynamic benchmark (10 canonical motions over in-the-wild videos);
* :mod:`.static` - the static benchmark (Ava-256 camera pairs): layout, scoring, summary;
  :mod:`.static_views` - its inputs and the generation of missing views through the run API;
* :mod:`.records` - the run records both benchmarks write (JSON-safe, atomic) and their means;
* :mod:`.report` - Markdown/CSV tables in the paper's column order and PNG bar charts.
"""
