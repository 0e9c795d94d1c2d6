"""Evaluation: the paper's protocols and metrics, runnable on any engine's output.

* :mod:`.camera` - camera correctness from the head-pose change between last frames (paper 4.3);
* :mod:`.metrics` - PSNR, SSIM, LPIPS (static protocol);
* :mod:`.identity` - identity similarity (ArcFace ONNX when given, else SFace);
* :mod:`.video_quality` - weight-free video-quality scores, named as ours (not VBench);
* :mod:`.protocols` - the dynamic (10 canonical motions) and static (Ava-256) benchmarks;
* :mod:`.report` - Markdown/CSV tables in the paper's column order and PNG bar charts.
"""
