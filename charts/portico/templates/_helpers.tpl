{{- define "portico.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portico.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "portico.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "portico.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "portico.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "portico.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "portico.metricsServiceEnabled" -}}
{{- if or .Values.metrics.service.enabled .Values.metrics.serviceMonitor.enabled -}}true{{- end -}}
{{- end -}}

{{/* The controller's command line; each flag is a Settings field of `portico run`. */}}
{{- define "portico.args" -}}
{{- $c := .Values.controller -}}
- run
- --http-port={{ $c.containerPorts.http }}
- --https-port={{ $c.containerPorts.https }}
- --admin-port={{ $c.containerPorts.admin }}
- --ingress-class={{ .Values.ingressClass.name }}
- --controller-name={{ .Values.ingressClass.controllerValue }}
- --election-id={{ $c.electionID }}
- --controller-namespace={{ .Release.Namespace }}
{{- if $c.watchNamespace }}
- --watch-namespace={{ $c.watchNamespace }}
{{- end }}
{{- if $c.watchIngressWithoutClass }}
- --watch-ingress-without-class
{{- end }}
{{- if $c.publishAddress }}
- --publish-address={{ $c.publishAddress }}
{{- end }}
{{- with include "portico.publishServicePath" . }}
- --publish-service={{ . }}
{{- end }}
{{- if $c.defaultSSLCertificate }}
- --default-ssl-certificate={{ $c.defaultSSLCertificate }}
{{- end }}
{{- if not (kindIs "invalid" $c.workers) }}
- --workers={{ $c.workers }}
{{- end }}
- --shutdown-delay={{ $c.lifecycle.shutdownDelaySeconds }}
- --shutdown-grace={{ $c.lifecycle.shutdownGraceSeconds }}
- --log-format={{ $c.logFormat }}
- --log-level={{ $c.logLevel }}
{{- if $c.accessLog }}
- --access-log
- --access-log-format={{ $c.accessLogFormat }}
{{- end }}
{{- if not $c.generateRequestID }}
- --no-generate-request-id
{{- end }}
{{- if not .Values.metrics.requests }}
- --no-enable-metrics
{{- end }}
{{- if not .Values.metrics.perHost }}
- --no-metrics-per-host
{{- end }}
{{- with .Values.tracing }}
{{- if .otlpEndpoint }}
- --otlp-endpoint={{ .otlpEndpoint }}
- --trace-sample-ratio={{ include "portico.scalar" .sampleRatio }}
{{- end }}
{{- end }}
{{- with .Values.admissionWebhook }}
{{- if .enabled }}
{{- $name := printf "%s-admission" (include "portico.fullname" $) }}
- --admission-port={{ .port }}
- --admission-service={{ $name }}
{{- if .certManager.enabled }}
- --admission-cert-file=/etc/portico/admission/tls.crt
- --admission-key-file=/etc/portico/admission/tls.key
{{- else }}
- --admission-secret={{ $name }}
- --admission-webhook={{ $name }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.gatewayAPI.enabled }}
- --gateway-api
- --gateway-controller-name={{ .Values.gatewayAPI.controllerName }}
{{- end }}
{{- if $c.config }}
- --configmap={{ .Release.Namespace }}/{{ include "portico.fullname" . }}-controller
{{- end }}
{{- if $c.proxyProtocol.enabled }}
- --proxy-protocol
- --proxy-protocol-timeout={{ $c.proxyProtocol.timeoutSeconds }}
{{- end }}
{{- if $c.sslPassthrough }}
- --enable-ssl-passthrough
{{- end }}
{{- with $c.trustedProxies }}
- --trusted-proxies={{ join "," . }}
{{- end }}
- --http2-max-concurrent-streams={{ $c.http2.maxConcurrentStreams }}
{{- range $flag, $value := $c.extraArgs }}
{{- if kindIs "bool" $value }}
- --{{ if not $value }}no-{{ end }}{{ $flag }}
{{- else }}
- {{ printf "--%s=%s" $flag (include "portico.scalar" $value) | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "portico.terminationGracePeriodSeconds" -}}
{{- $l := .Values.controller.lifecycle -}}
{{- if kindIs "invalid" $l.terminationGracePeriodSeconds -}}
{{- add $l.preStopSeconds $l.shutdownDelaySeconds $l.shutdownGraceSeconds 5 -}}
{{- else -}}
{{- $l.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* A value as the CLI expects it: Helm reads YAML numbers as float64, which
     would print large whole numbers as 1.048576e+06. */}}
{{- define "portico.scalar" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) -}}
{{- int64 . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* ns/name of the Service whose address goes into Ingress status, if any. */}}
{{- define "portico.publishServicePath" -}}
{{- $c := .Values.controller -}}
{{- if and $c.publishService.enabled (not $c.publishAddress) -}}
{{- default (printf "%s/%s" .Release.Namespace (include "portico.fullname" .)) $c.publishService.pathOverride -}}
{{- end -}}
{{- end -}}

{{/* What the controller reads and writes about Ingresses, wherever it watches them. */}}
{{- define "portico.watchRules" -}}
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses/status]
  verbs: [update, patch]
- apiGroups: [""]
  resources: [services, secrets, configmaps]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- if .Values.gatewayAPI.enabled }}
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways, httproutes, referencegrants]
  verbs: [get, list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways/status, httproutes/status]
  verbs: [update, patch]
{{- end }}
{{- end -}}

{{/* Cluster-scoped objects the controller reads (and, for GatewayClasses, writes status of). */}}
{{- define "portico.ingressClassRules" -}}
- apiGroups: [networking.k8s.io]
  resources: [ingressclasses]
  verbs: [get, list, watch]
{{- if .Values.gatewayAPI.enabled }}
- apiGroups: [gateway.networking.k8s.io]
  resources: [gatewayclasses]
  verbs: [get, list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [gatewayclasses/status]
  verbs: [update, patch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  resourceNames: [gateways.gateway.networking.k8s.io]
  verbs: [get]
{{- end }}
{{- end -}}

{{- define "portico.subjects" -}}
- kind: ServiceAccount
  name: {{ include "portico.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
