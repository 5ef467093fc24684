{{/* Release-prefixed base name: "<release>-azop", or the release name when it already
contains "azop" (release "azop" gives "azop"), so two releases never collide and no name
repeats itself. Kubernetes names are at most 63 characters. */}}
{{- define "azop.fullname" -}}
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

{{/* A name derived from the base name with a suffix, kept within 63 characters. */}}
{{- define "azop.name" -}}
{{- printf "%s-%s" (include "azop.fullname" .root | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix -}}
{{- end -}}

{{- define "azop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "azop.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "azop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "azop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: azop
{{- end }}

{{- define "azop.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "azop.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The webhook's names, shared by the Service, the configuration, the certificate and
the operator's environment. */}}
{{- define "azop.webhookService" -}}{{ include "azop.name" (dict "root" . "suffix" "webhook") }}{{- end -}}
{{- define "azop.webhookSecret" -}}{{ include "azop.name" (dict "root" . "suffix" "webhook-tls") }}{{- end -}}
{{- define "azop.webhookConfig" -}}{{ include "azop.name" (dict "root" . "suffix" "proxy-injector") }}{{- end -}}
