{{/* Names and labels shared by every object. */}}
{{- define "peeq-cdc.fullname" -}}
{{- printf "%s-peeq-cdc" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "peeq-cdc.labels" -}}
app.kubernetes.io/name: peeq-cdc
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "peeq-cdc.selector" -}}
app.kubernetes.io/name: peeq-cdc
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The pod spec every stage shares; call with (dict "root" $ "component" "capture" "args" (list ...) "seal" true "resources" ... ). */}}
{{- define "peeq-cdc.pod" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "peeq-cdc.selector" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    {{- with .source }}
    peeq-cdc/source: {{ . }}
    {{- end }}
    {{- with $root.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ $root.Values.config | sha256sum }}
    {{- with $root.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: {{ .component }}
      image: "{{ $root.Values.image.repository }}:{{ $root.Values.image.tag }}"
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        {{- range .args }}
        - {{ . | quote }}
        {{- end }}
        - "--config"
        - "/etc/peeq-cdc/peeq-cdc.yaml"
        - "--http"
        - {{ printf "http://0.0.0.0:%v" $root.Values.metricsPort | quote }}
        - "--log-level"
        - {{ $root.Values.logLevel | quote }}
      ports:
        - name: metrics
          containerPort: {{ $root.Values.metricsPort }}
      envFrom:
        - secretRef:
            name: {{ default (printf "%s-env" (include "peeq-cdc.fullname" $root)) $root.Values.secrets.existingSecret }}
      {{- if .seal }}
      env:
        - name: PEEQ_CDC_SEAL_KEY
          valueFrom:
            secretKeyRef:
              name: {{ default (printf "%s-seal" (include "peeq-cdc.fullname" $root)) $root.Values.secrets.existingSealKeySecret }}
              key: PEEQ_CDC_SEAL_KEY
              optional: true
      {{- end }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        initialDelaySeconds: {{ $root.Values.probes.initialDelaySeconds }}
        periodSeconds: {{ $root.Values.probes.periodSeconds }}
        failureThreshold: {{ $root.Values.probes.failureThreshold }}
      readinessProbe:
        httpGet:
          path: /healthz
          port: metrics
        periodSeconds: {{ $root.Values.probes.periodSeconds }}
        failureThreshold: {{ $root.Values.probes.failureThreshold }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      volumeMounts:
        - name: config
          mountPath: /etc/peeq-cdc
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if .reports }}
        - name: reports
          mountPath: /var/lib/peeq-cdc/reports
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "peeq-cdc.fullname" $root }}-config
    - name: tmp
      emptyDir: {}
    {{- if .reports }}
    - name: reports
      persistentVolumeClaim:
        claimName: {{ .reports }}
    {{- end }}
  {{- with .nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
