"""interfaces/web: the operator map page a node serves (``static/``) and its geography.

The page (``static/index.html``, ``app.js``, ``app.css``) uses Leaflet 1.9.4 vendored from the
npm tarball (``static/vendor/leaflet``, BSD-2-Clause, see ``VENDOR.md``): no tile server, no
CDN, no Node.js needed at run time. Its geography comes from :mod:`kizuna.interfaces.web.geo`
through the node's API; its data from the API and WebSocket of :mod:`kizuna.interfaces.api`.
"""
