// The function app on Flex Consumption (Linux, Python 3.11), running as the user-assigned identity:
// the deployment package, host storage, Key Vault references and telemetry all use it, no keys.
// Basic (FTP / SCM) publishing credentials are off: azd deploys with Entra ID.

param name string
param location string
param tags object = {}
param planId string
param identityId string
param deploymentContainerUrl string

@description('App settings, name -> value (Key Vault references included).')
param appSettings object

param maximumInstanceCount int = 40
@allowed([2048, 4096])
param instanceMemoryMB int = 4096

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not support the platform health check (healthCheckPath); GET /api/health serves external probes.
  // checkov:skip=CKV_AZURE_222: public network access stays on: GitHub and Azure DevOps deliver webhooks, Event Grid delivers blob events and clients call /api/score over the internet; there is no virtual network in this template.
  // checkov:skip=CKV_AZURE_17: no client certificates: webhook senders (GitHub, Azure DevOps, Event Grid) do not present one; routes are authenticated by function keys, HMAC signatures or the shared secret.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales per function from zero; instance minimums are not a property of this plan.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: planId
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
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
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      cors: { allowedOrigins: [] }
      appSettings: [for setting in items(appSettings): { name: setting.key, value: setting.value }]
    }
  }
}

resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: { allow: false }
}

resource scm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: { allow: false }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
