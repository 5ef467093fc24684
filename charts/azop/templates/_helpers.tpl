{{- define "azop.labels" -}}
app.kubernetes.io/name: azop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- define "azop.selectorLabels" -}}
app.kubernetes.io/name: azop
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
