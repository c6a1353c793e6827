// Driftline on Azure Functions Flex Consumption, ready for `azd up`.
// One storage account holds the host's state, the data lake, the model registry, reports and runs;
// the app reaches it with a user-assigned managed identity (no keys in settings). Blob triggers use
// the EventGrid source, which Flex Consumption requires; an Event Grid system topic delivers
// BlobCreated events for the lake container to the app's blob extension webhook.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('azd environment name, used to derive resource names.')
param environmentName string

@description('Azure region for all resources.')
param location string = resourceGroup().location

@secure()
@description('Secret configured on the GitHub webhook (X-Hub-Signature-256).')
param githubSecret string = ''

@secure()
@description('Shared secret (basic auth password) configured on the Azure DevOps service hook.')
param adoSecret string = ''

@secure()
@description('Secret used to sign outgoing notifications.')
param notifySecret string = ''

@description('URL that receives signed notifications (model deployed, approval requested, ...). Empty: none.')
param notifyUrl string = ''

@description('Maximum instances of the Flex Consumption app.')
param maximumInstanceCount int = 40

@description('Memory per instance in MB (training runs in-process for small data sets).')
@allowed([2048, 4096])
param instanceMemoryMB int = 4096

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName }
var appName = 'func-driftline-${token}'
var deploymentContainer = 'app-package-${take(token, 7)}'

// Built-in role definition ids
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-driftline-${token}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stdl${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
    isHnsEnabled: false
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for name in [deploymentContainer, 'datalake', 'models', 'reports', 'runs', 'hooks']: {
    parent: blobService
    name: name
  }
]

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-driftline-${token}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-driftline-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-driftline-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        { name: 'DRIFTLINE_BLOB_SOURCE', value: 'EventGrid' }
        { name: 'DRIFTLINE_GITHUB_SECRET', value: githubSecret }
        { name: 'DRIFTLINE_ADO_SECRET', value: adoSecret }
        { name: 'DRIFTLINE_NOTIFY_SECRET', value: notifySecret }
        { name: 'DRIFTLINE_NOTIFY_URL', value: notifyUrl }
        { name: 'DRIFTLINE_DRIFT_SCHEDULE', value: '0 0 2 * * *' }
        { name: 'DRIFTLINE_RETRAIN_SCHEDULE', value: '0 0 3 * * 0' }
        { name: 'DRIFTLINE_SWEEP_SCHEDULE', value: '0 */5 * * * *' }
        { name: 'DRIFTLINE_CLEANUP_SCHEDULE', value: '0 30 4 * * *' }
      ]
    }
  }
  dependsOn: [containers]
}

resource roleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]: {
    name: guid(storage.id, identity.id, role)
    scope: storage
    properties: {
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// BlobCreated events for the lake reach the blob extension's webhook (EventGrid blob trigger source).
// The subscriptions need the app's `blobs_extension` system key, which exists only once the deployed
// code has started, so infra/hooks/postdeploy.sh creates them after `azd deploy`.
resource lakeEvents 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: 'evgt-driftline-${token}'
  location: location
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output AZURE_FUNCTION_APP_NAME string = app.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.name
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_EVENTGRID_TOPIC_NAME string = lakeEvents.name
output DRIFTLINE_API_URL string = 'https://${app.properties.defaultHostName}/api'
