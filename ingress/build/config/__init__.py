"""The controller ConfigMap (`--configmap`): ingress-nginx's global settings.

`catalog` lists every key ingress-nginx knows with Portico's verdict,
`keys` how the supported ones are read, `controller` what they become
(`ControllerConfig`: route defaults that annotations override, and proxy
settings applied without a restart), `read` the ConfigMap → that.
"""
