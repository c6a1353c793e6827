#!/bin/sh
# azd postdeploy hook: deploy the lake's Event Grid subscriptions (infra/app/lake-events.bicep).
# The EventGrid blob trigger source delivers events to the blob extension's webhook, whose key
# (`blobs_extension`) exists only after the deployed code has started and indexed its blob triggers,
# hence after `azd deploy`, not in main.bicep. Idempotent: a second run updates the subscriptions.
# Needs the Azure CLI, signed in to the same subscription as azd (docs/deploy.md).
set -eu
app="$AZURE_FUNCTION_APP_NAME"
group="$AZURE_RESOURCE_GROUP"
topic="$AZURE_EVENTGRID_TOPIC_NAME"
here=$(cd "$(dirname "$0")" && pwd)

key=""
for _ in $(seq 1 30); do
  key=$(az functionapp keys list -g "$group" -n "$app" --query "systemKeys.blobs_extension" -o tsv 2>/dev/null || true)
  [ -n "$key" ] && break
  sleep 10  # the host creates the key when it first indexes the blob triggers
done
[ -n "$key" ] || { echo "no blobs_extension key on $app after 5 minutes; is the app running? (see docs/deploy.md, Logs)" >&2; exit 1; }

az deployment group create \
  --resource-group "$group" --name lake-events \
  --template-file "$here/../app/lake-events.bicep" \
  --parameters functionAppName="$app" systemTopicName="$topic" \
  --output none
echo "subscribed on_labeled and on_incoming to BlobCreated under datalake/labeled/ and datalake/incoming/"
