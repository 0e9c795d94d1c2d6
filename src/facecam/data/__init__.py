"""Training-data generation (paper 3.4) and the training reader.

* :mod:`.nersemble`, :mod:`.wild` - what is read (layouts in ``docs/data.md``);
* :mod:`.augment` - still scale-and-place, zoom/pan, background replacement;
* :mod:`.stitch` - multi-shot stitching and the condition-landmark cache;
* :mod:`.condition` - the condition stored as its meshes and drawn when read;
* :mod:`.samples` - planning (every random choice, recorded) and rendering one sample;
* :mod:`.shards`, :mod:`.build` - crash-safe tar shards, parallel and split builds;
* :mod:`.latents` - optional pre-encoded VAE latents;
* :mod:`.dataset` - ``FaceCamShards``, the torch ``IterableDataset`` for training;
* :mod:`.show` - contact sheets.

Submodules are imported on demand (``dataset`` needs torch, the rest does not).
"""
