{{/*
Server pods when the Deployment is at its largest outside a rollout: the fixed replica count, or
the HPA's maximum.
*/}}
{{- define "stockd.maxPods" -}}
{{- if .Values.autoscaling.enabled }}
{{- int .Values.autoscaling.maxReplicas }}
{{- else }}
{{- int .Values.replicaCount }}
{{- end }}
{{- end }}

{{/*
Pods a rolling update adds on top of stockd.maxPods: maxSurge (Kubernetes' default 25%), a
percentage rounded up as Kubernetes does; none with the Recreate strategy.
*/}}
{{- define "stockd.surgePods" -}}
{{- $strategy := .Values.updateStrategy | default dict }}
{{- if eq (default "RollingUpdate" $strategy.type) "Recreate" }}
{{- 0 }}
{{- else }}
{{- $surge := dig "rollingUpdate" "maxSurge" "25%" $strategy }}
{{- if kindIs "string" $surge }}
{{- $percent := trimSuffix "%" $surge | int }}
{{- div (add (mul (include "stockd.maxPods" . | int) $percent) 99) 100 }}
{{- else }}
{{- int $surge }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Fails when stockd can open more database connections than database.connectionBudget. Each pod has
its pool (database.maxConnections, the availability cache's listener included), one connection
of its own for the readiness check, and with read replicas one more that samples the primary's WAL
position. The most pods run in a rolling update at the largest size; the
migration Job opens one connection while the previous release's pods run.
*/}}
{{- define "stockd.connectionCheck" -}}
{{- $own := ternary 2 1 (not (empty .Values.readReplicas.existingSecret)) }}
{{- $perPod := add (int .Values.database.maxConnections) $own }}
{{- $pods := include "stockd.maxPods" . | int }}
{{- $surge := include "stockd.surgePods" . | int }}
{{- $peak := mul (add $pods $surge) $perPod }}
{{- if eq .Values.migrations.mode "job" }}
{{- $peak = max $peak (add (mul $pods $perPod) 1) }}
{{- end }}
{{- $budget := int .Values.database.connectionBudget }}
{{- if gt $peak $budget }}
{{- $source := ternary "autoscaling.maxReplicas" "replicaCount" .Values.autoscaling.enabled }}
{{- fail (printf "stockd can open %d database connections, more than database.connectionBudget (%d): up to %d pods (%s %d + a rollout's surge of %d) × (database.maxConnections %d + %d of its own: the readiness check, and the replicas' lag sampler when on). Lower database.maxConnections or the pod count, or raise database.connectionBudget to what the server has for stockd (max_connections less its reserved connections and other clients)" $peak $budget (add $pods $surge) $source $pods $surge (int .Values.database.maxConnections) $own) }}
{{- end }}
{{- end }}

{{/*
Fails when a ServiceMonitor is on behind the NetworkPolicy with no peer admitted to the metrics
port: Prometheus would be blocked without a word.
*/}}
{{- define "stockd.metricsPeersCheck" -}}
{{- if and .Values.metrics.serviceMonitor.enabled .Values.networkPolicy.enabled }}
{{- if not (or .Values.networkPolicy.prometheusFrom .Values.networkPolicy.metricsFrom) }}
{{- fail "metrics.serviceMonitor.enabled with networkPolicy.enabled needs the Prometheus that scrapes it in networkPolicy.prometheusFrom (or networkPolicy.metricsFrom): the NetworkPolicy would block its scrapes" }}
{{- end }}
{{- end }}
{{- end }}
