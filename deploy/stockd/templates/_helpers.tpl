{{/*
Chart name, cut to the 63 characters a DNS label allows.
*/}}
{{- define "stockd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources. A release already named after the chart is not repeated
("stockd", not "stockd-stockd").
*/}}
{{- define "stockd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "stockd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels every resource carries.
*/}}
{{- define "stockd.labels" -}}
helm.sh/chart: {{ include "stockd.chart" . }}
{{ include "stockd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stockd
{{- end }}

{{/*
Labels that identify the release's pods of any kind; add a component to tell them apart.
*/}}
{{- define "stockd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stockd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels that select the server pods only: not the migration Job's nor the test pod.
*/}}
{{- define "stockd.serverSelectorLabels" -}}
{{ include "stockd.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/*
Label a pod carries to be admitted by the NetworkPolicy without being listed in
networkPolicy.ingressFrom (the helm test pod carries it).
*/}}
{{- define "stockd.clientLabel" -}}
{{ include "stockd.fullname" . | trunc 56 | trimSuffix "-" }}-client
{{- end }}

{{/*
ServiceAccount the pods run as.
*/}}
{{- define "stockd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stockd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: a digest pins it; otherwise the tag, defaulting to the chart's appVersion.
*/}}
{{- define "stockd.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding DATABASE_URL; rendering fails without it.
*/}}
{{- define "stockd.databaseSecret" -}}
{{- required "database.existingSecret is required: create a Secret holding the PostgreSQL URL (see the chart's README)" .Values.database.existingSecret }}
{{- end }}

{{/*
Port the kubelet's gRPC probes use: with TLS on the main port they need the plaintext health port.
*/}}
{{- define "stockd.probePort" -}}
{{- if .Values.tls.existingSecret }}
{{- .Values.tls.plaintextHealthPort }}
{{- else }}
{{- .Values.grpc.port }}
{{- end }}
{{- end }}

{{/*
Seconds Kubernetes waits after SIGTERM before SIGKILL: the delay, the drain and a margin.
*/}}
{{- define "stockd.terminationGracePeriodSeconds" -}}
{{- add .Values.shutdown.delaySeconds .Values.shutdown.drainSeconds .Values.shutdown.extraSeconds }}
{{- end }}

{{/*
Cross-field checks the JSON schema cannot express; they mirror the checks stockd itself makes at
start, so a bad combination fails at `helm install` instead of in a crash-looping pod.
*/}}
{{- define "stockd.validate" -}}
{{- if and .Values.auth.enabled (not .Values.auth.existingSecret) }}
{{- fail "auth.existingSecret is required while auth.enabled is true: create a Secret holding the tokens file (see the chart README), or set auth.enabled=false for a trial" }}
{{- end }}
{{- if gt (int .Values.holds.ttlDefaultSeconds) (int .Values.holds.ttlMaxSeconds) }}
{{- fail (printf "holds.ttlDefaultSeconds (%v) must not exceed holds.ttlMaxSeconds (%v)" .Values.holds.ttlDefaultSeconds .Values.holds.ttlMaxSeconds) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- $ports := list (int .Values.grpc.port) }}
{{- if .Values.metrics.enabled }}
{{- if has (int .Values.metrics.port) $ports }}
{{- fail "metrics.port must differ from grpc.port" }}
{{- end }}
{{- $ports = append $ports (int .Values.metrics.port) }}
{{- end }}
{{- if and .Values.tls.existingSecret (has (int .Values.tls.plaintextHealthPort) $ports) }}
{{- fail "tls.plaintextHealthPort must differ from grpc.port and metrics.port" }}
{{- end }}
{{- if and (gt (int .Values.availabilityCache.ttlMilliseconds) 0) (lt (int .Values.database.maxConnections) 2) }}
{{- fail "the availability cache (availabilityCache.ttlMilliseconds, on by default) listens on one pooled connection: set database.maxConnections to at least 2, or availabilityCache.ttlMilliseconds to 0" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}

{{/*
How to reach PostgreSQL; shared by the server and the migration Job.
*/}}
{{- define "stockd.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "stockd.databaseSecret" . }}
      key: {{ .Values.database.secretKey }}
- name: STOCKD_DB_MAX_CONNECTIONS
  value: {{ int .Values.database.maxConnections | quote }}
- name: STOCKD_DB_ACQUIRE_TIMEOUT
  value: {{ int .Values.database.acquireTimeoutSeconds | quote }}
{{- with .Values.database.tls.sslMode }}
- name: PGSSLMODE
  value: {{ . | quote }}
{{- end }}
{{- if include "stockd.databaseCa" . }}
- name: PGSSLROOTCERT
  value: /etc/stockd/postgres-ca/{{ .Values.database.tls.caKey }}
{{- end }}
{{- end }}

{{/*
"true" when a CA for PostgreSQL's certificate is mounted (database.tls.caSecret or caConfigMap).
*/}}
{{- define "stockd.databaseCa" -}}
{{- if or .Values.database.tls.caSecret .Values.database.tls.caConfigMap }}true{{ end }}
{{- end }}

{{/*
The volume mount of the CA for PostgreSQL's certificate, when there is one.
*/}}
{{- define "stockd.databaseCaVolumeMount" -}}
{{- if include "stockd.databaseCa" . }}
- name: postgres-ca
  mountPath: /etc/stockd/postgres-ca
  readOnly: true
{{- end }}
{{- end }}

{{/*
The volume of the CA for PostgreSQL's certificate, from the Secret or else the ConfigMap.
*/}}
{{- define "stockd.databaseCaVolume" -}}
{{- with .Values.database.tls }}
{{- if .caSecret }}
- name: postgres-ca
  secret:
    secretName: {{ .caSecret }}
    defaultMode: 0444
    items:
      - key: {{ .caKey }}
        path: {{ .caKey }}
{{- else if .caConfigMap }}
- name: postgres-ca
  configMap:
    name: {{ .caConfigMap }}
    defaultMode: 0444
    items:
      - key: {{ .caKey }}
        path: {{ .caKey }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Log format and filter; shared by the server and the migration Job.
*/}}
{{- define "stockd.loggingEnv" -}}
- name: STOCKD_LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
- name: RUST_LOG
  value: {{ .Values.logging.filter | quote }}
{{- end }}
