// Event Grid subscriptions of the lake's blob triggers (the EventGrid blob trigger source, which Flex
// Consumption requires): BlobCreated events under datalake/labeled/ and datalake/incoming/ go to the
// blob extension's webhook of on_labeled and on_incoming (functions/lake.py).
//
// Deployed by infra/hooks/postdeploy.sh after `azd deploy`, not by main.bicep: the webhook's key
// (`blobs_extension`) exists only once the deployed code has started, and Event Grid validates the
// endpoint when the subscription is created.
targetScope = 'resourceGroup'

param functionAppName string
param systemTopicName string

@description('The lake container (shared/platform/names.py DATALAKE).')
param lakeContainer string = 'datalake'

@description('Function name -> folder of the lake whose uploads trigger it.')
param triggers object = {
  on_labeled: 'labeled/'
  on_incoming: 'incoming/'
}

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource appHost 'Microsoft.Web/sites/host@2024-04-01' existing = {
  parent: app
  name: 'default'
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

var blobsExtensionKey = appHost.listKeys().systemKeys.blobs_extension

resource subscriptions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = [
  for trigger in items(triggers): {
    parent: topic
    name: replace(trigger.key, '_', '-')
    properties: {
      destination: {
        endpointType: 'WebHook'
        properties: {
          endpointUrl: 'https://${app.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${trigger.key}&code=${blobsExtensionKey}'
        }
      }
      eventDeliverySchema: 'EventGridSchema'
      filter: {
        includedEventTypes: ['Microsoft.Storage.BlobCreated']
        subjectBeginsWith: '/blobServices/default/containers/${lakeContainer}/blobs/${trigger.value}'
      }
      retryPolicy: {
        maxDeliveryAttempts: 30
        eventTimeToLiveInMinutes: 1440
      }
    }
  }
]

output subscriptions array = [for trigger in items(triggers): replace(trigger.key, '_', '-')]
