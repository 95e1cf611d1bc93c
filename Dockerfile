# One image for every Deployment and compose service: peeq-cdc capture | transform | sink | run | dashboard |
# reconcile | seed-data | ... (docker-compose.yml, deploy/helm/peeq-cdc).
#   docker build -t peeq-cdc:0.1.0 .
# Multi-stage: the SDK builds and publishes; the runtime image holds only the ASP.NET Core runtime and the app.

# Pinned to the SDK and runtime this repository is built and tested with (global.json rolls forward to it).
FROM mcr.microsoft.com/dotnet/sdk:10.0.401 AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY schemas/ schemas/
COPY src/ src/
# ReadyToRun: the assemblies are compiled to native code here, so a worker's start JITs far less (the runtime pack and
# crossgen come from NuGet like any package; bench/results/optimisations.md, session 7).
RUN dotnet publish src/Cli/Peeq.Cdc.Cli.csproj -c Release --use-current-runtime --self-contained false -p:PublishReadyToRun=true -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0.12 AS runtime
# A non-root user with a fixed uid, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 peeq && useradd --system --uid 10001 --gid peeq --home-dir /nonexistent --shell /usr/sbin/nologin peeq \
    && mkdir -p /var/lib/peeq-cdc/reports && chown -R peeq:peeq /var/lib/peeq-cdc \
    && printf '#!/bin/sh\nexec dotnet /app/peeq-cdc.dll "$@"\n' > /usr/local/bin/peeq-cdc && chmod 0755 /usr/local/bin/peeq-cdc
WORKDIR /app
COPY --from=build /app ./
USER 10001:10001
# /metrics, /healthz, and the dashboard in `run` / `dashboard` (http.urls in the config, or --http).
EXPOSE 9464
ENV DOTNET_gcServer=0 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
ENTRYPOINT ["peeq-cdc"]
CMD ["--help"]
