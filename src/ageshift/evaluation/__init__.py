"""Is it older, is it the same person, does it look real? Metrics and the evaluation report.

Modules: :mod:`.age` (packaged age/gender estimator, its PyTorch port), :mod:`.identity` (dlib face
descriptor distance), :mod:`.fid` (FID/KID), :mod:`.image_metrics` (L1/PSNR/SSIM), :mod:`.age_regressor`
(our own trainable age estimator), :mod:`.report` (``evaluate_model``, ``write_report``). Nothing heavy is
imported here; import the submodule you need.
"""
