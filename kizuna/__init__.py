"""kizuna: an allied, real-time missile-warning and data-sharing system.

Data flows one way through the subpackages, each importing only those above it:

    geo -> physics -> sensors -> tracking -> prediction -> warning -> sharing -> store -> interfaces

Conventions used everywhere (stated once, here):

* SI units inside: metres, seconds, kilograms, radians only where a name says ``_rad``.
* Vectors are numpy arrays whose *last* axis holds the components, shape ``(..., 3)``;
  covariances are ``(..., n, n)``. Functions broadcast over the leading axes (objects, time).
* Frames are named in identifiers: ``_ecef`` (WGS84 Earth-centred Earth-fixed),
  ``_enu`` (local east-north-up), ``lat_deg``/``lon_deg`` geodetic WGS84, ``alt_m`` above
  the ellipsoid. Azimuth is degrees clockwise from true north.
* Times inside the core are POSIX seconds (float, UTC); at the edges they are RFC 3339 strings
  (see :mod:`kizuna.timefmt`).
"""

__version__ = "0.1.0"
