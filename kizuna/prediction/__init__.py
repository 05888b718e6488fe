"""Prediction: impact point and time with a 95 % ellipse, launch point, category.

Layering: imports geo and physics only (never tracking: the predictor takes plain arrays).

* :mod:`kizuna.prediction.impact`: :func:`predict_impact` (sigma points or Monte Carlo to the
  ellipsoid), :func:`ground_tracks`, :func:`in_ellipse`.
* :mod:`kizuna.prediction.launch`: :func:`estimate_launch` (back-propagation plus a calibrated
  boost correction).
* :mod:`kizuna.prediction.category`: :func:`classify` (ballistic / orbital / unknown).
* :mod:`kizuna.prediction.predictor`: :class:`Predictor`, :class:`TrackUpdate`,
  :class:`Prediction`.
* :mod:`kizuna.prediction.metrics`: RMSE, NEES, GOSPA, PCRLB, ellipse coverage.
* :mod:`kizuna.prediction.evaluation`: scoring truth against tracks and predictions
  (``kizuna evaluate``).
* :mod:`kizuna.prediction.calibration`: builds the boost table in ``data/`` (offline).
"""
