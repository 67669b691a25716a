{{/* Names and labels shared by every template of the chart. */}}

{{- define "lode.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lode.fullname" -}}
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

{{- define "lode.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lode.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lode.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "lode.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The Lode config with data_dir forced onto the PVC mount. */}}
{{- define "lode.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $storage := get $cfg "storage" | default dict -}}
{{- $_ := set $storage "data_dir" (printf "%s/data" .Values.persistence.mountPath) -}}
{{- $_ := set $cfg "storage" $storage -}}
{{- if .Values.ruler.enabled -}}
{{- $ruler := get $cfg "ruler" | default dict -}}
{{- $_ := set $ruler "storage" (dict "type" "local" "local" (dict "read_only_directory" "/etc/lode-rules")) -}}
{{- $_ := set $ruler "alertmanager_url" .Values.ruler.alertmanagerUrl -}}
{{- $_ := set $ruler "external_url" .Values.ruler.externalUrl -}}
{{- $_ := set $ruler "external_labels" .Values.ruler.externalLabels -}}
{{- if .Values.ruler.remoteWrite.enabled -}}
{{- $_ := set $ruler "remote_write" (dict "enabled" true "clients" (dict "prometheus" (dict "url" .Values.ruler.remoteWrite.url))) -}}
{{- end -}}
{{- $_ := set $cfg "ruler" $ruler -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* A scalable component's config: the chart's config plus its target,
the bucket (credentials come from the Secret's environment variables) and,
for readers, the writers' headless Service. */}}
{{- define "lode.scalableConfig" -}}
{{- $root := .root -}}
{{- $cfg := fromYaml (include "lode.config" $root) -}}
{{- $_ := set $cfg "target" .target -}}
{{- $o := $root.Values.objectStorage -}}
{{- $s3 := dict "endpoint" $o.endpoint "bucketnames" $o.bucket "region" $o.region "s3forcepathstyle" $o.forcePathStyle "insecure" $o.insecure -}}
{{- $_ := set $cfg "common" (dict "storage" (dict "s3" $s3)) -}}
{{- if ne .target "write" -}}
{{- $writers := printf "http://%s-write-headless.%s.svc.cluster.local:%v" (include "lode.fullname" $root) $root.Release.Namespace (include "lode.port" $root) -}}
{{- $_ := set $cfg "scalable" (dict "writers" (list $writers) "cache_size" $root.Values.read.cacheSize) -}}
{{- end -}}
{{- if ne .target "backend" -}}
{{- $_ := unset $cfg "ruler" -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{- define "lode.port" -}}
{{- $server := .Values.config.server | default dict -}}
{{- get $server "http_listen_port" | default 3100 -}}
{{- end -}}

{{- define "lode.storageClassName" -}}
{{- if .Values.persistence.storageClassName -}}
{{- .Values.persistence.storageClassName -}}
{{- else if .Values.storageClass.create -}}
{{- .Values.storageClass.name -}}
{{- else -}}
longhorn
{{- end -}}
{{- end -}}

{{/* In-cluster URL of the Service, used by the Grafana datasource. */}}
{{- define "lode.url" -}}
{{- printf "http://%s.%s.svc.cluster.local:%v" (include "lode.fullname" .) .Release.Namespace .Values.service.port -}}
{{- end -}}
