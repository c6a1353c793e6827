#!/bin/sh
# azd postdeploy hook: subscribe the lake's blob triggers to BlobCreated events.
# The EventGrid blob trigger source delivers events to the blob extension's webhook, whose key
# (`blobs_extension`) exists only after the app's code has started, hence after deploy, not in Bicep.
set -eu
app="$AZURE_FUNCTION_APP_NAME"
group="$AZURE_RESOURCE_GROUP"
topic="$AZURE_EVENTGRID_TOPIC_NAME"

key=""
for _ in $(seq 1 30); do
  key=$(az functionapp keys list -g "$group" -n "$app" --query "systemKeys.blobs_extension" -o tsv 2>/dev/null || true)
  [ -n "$key" ] && break
  sleep 10  # the host creates the key when it first indexes the blob triggers
done
[ -n "$key" ] || { echo "no blobs_extension key on $app after 5 minutes; is the app running?" >&2; exit 1; }

for function in on_labeled on_incoming; do
  folder=${function#on_}
  az eventgrid system-topic event-subscription create \
    --resource-group "$group" --system-topic-name "$topic" --name "$(echo "$function" | tr _ -)" \
    --endpoint-type webhook \
    --endpoint "https://$app.azurewebsites.net/runtime/webhooks/blobs?functionName=Host.Functions.$function&code=$key" \
    --included-event-types Microsoft.Storage.BlobCreated \
    --subject-begins-with "/blobServices/default/containers/datalake/blobs/$folder/" \
    --output none
  echo "subscribed $function to BlobCreated under datalake/$folder/"
done
