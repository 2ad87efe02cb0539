#!/usr/bin/env bash
# chipfolio export: SkyPilot launch commands for frontier-lab.plan.json
# run from the export directory, at each window's start hour (see each file)
set -euo pipefail
sky serve up -y -n chat-tpu-v6e-gcp-h0-672 skypilot/chat-tpu-v6e-gcp-h0-672.yaml
sky serve up -y -n code-tpu-v6e-gcp-h0-672 skypilot/code-tpu-v6e-gcp-h0-672.yaml
sky serve up -y -n code-tpu-v6e-gcp-h672-2184 skypilot/code-tpu-v6e-gcp-h672-2184.yaml
sky launch -y -c finetune-8b-tpu-v6e-gcp-h0-336 skypilot/finetune-8b-tpu-v6e-gcp-h0-336.yaml
