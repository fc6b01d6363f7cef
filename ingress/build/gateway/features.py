"""The Gateway API features Portico implements, by their conformance-suite names.

Published in each accepted GatewayClass's `status.supportedFeatures` (the
conformance suite can read them from there) and listed in the README.
Only features whose behaviour matches the spec are named; the README says
what is partial and why.
"""

SUPPORTED_FEATURES = tuple(sorted((
    # Core
    "Gateway",
    "HTTPRoute",
    "ReferenceGrant",
    # Extended
    "GatewayPort8080",
    "HTTPRoute303RedirectStatusCode",
    "HTTPRoute307RedirectStatusCode",
    "HTTPRoute308RedirectStatusCode",
    "HTTPRouteBackendProtocolWebSocket",
    "HTTPRouteHostRewrite",
    "HTTPRouteMethodMatching",
    "HTTPRoutePathRedirect",
    "HTTPRoutePathRewrite",
    "HTTPRoutePortRedirect",
    "HTTPRouteQueryParamMatching",
    "HTTPRouteRequestMirror",
    "HTTPRouteRequestMultipleMirrors",
    "HTTPRouteRequestPercentageMirror",
    "HTTPRouteResponseHeaderModification",
    "HTTPRouteSchemeRedirect",
)))
