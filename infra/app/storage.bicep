// The one storage account: the Functions host's state, the deployment package, the data lake, the
// model registry, reports, runs, webhook records and repository snapshots, and the step queues.
// Access is by Microsoft Entra ID only (shared keys off); blob versioning keeps every version of an
// uploaded data set, so the exact bytes a model was trained on can be read back.

@description('Storage account name (3-24 lowercase letters and digits).')
param name string
param location string
param tags object = {}

@description('Blob containers to create.')
param containers array

@description('Queues to create.')
param queues array

@description('Replication: LRS keeps three copies in one datacenter; ZRS (across zones) is not offered in every Flex Consumption region.')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param sku string = 'Standard_LRS'

@description('Days a deleted or overwritten blob version stays recoverable.')
param deleteRetentionDays int = 30

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the firewall stays open: this template has no virtual network, so the Flex Consumption app, azd's package upload and the user's data uploads reach storage over its public endpoint; every request still needs an Entra ID token (shared keys are off).
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35; anonymous blob access is off (allowBlobPublicAccess false) and only Entra ID is accepted.
  // checkov:skip=CKV_AZURE_206: replication is the sku parameter; the default LRS is the cheapest durable choice, and versioning plus soft delete cover overwrites and deletes. Choose Standard_ZRS or Standard_GRS where the region offers it.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: sku }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    isLocalUserEnabled: false
    isSftpEnabled: false
    isHnsEnabled: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    sasPolicy: {
      expirationAction: 'Log'
      sasExpirationPeriod: '01.00:00:00'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: { enabled: true, keyType: 'Account' }
        file: { enabled: true, keyType: 'Account' }
        queue: { enabled: true, keyType: 'Account' }
        table: { enabled: true, keyType: 'Account' }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: { enabled: true, days: deleteRetentionDays }
    containerDeleteRetentionPolicy: { enabled: true, days: deleteRetentionDays }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in containers: {
    parent: blobService
    name: container
    properties: { publicAccess: 'None' }
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource storageQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queue in queues: {
    parent: queueService
    name: queue
  }
]

output name string = storage.name
output resourceId string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
