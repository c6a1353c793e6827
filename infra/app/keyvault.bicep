// Key Vault for the webhook secrets and the repository tokens. Authorization is Azure RBAC only: the
// app's identity reads secrets (Key Vault Secrets User), the deploying user may manage them (Key Vault
// Secrets Officer). A secret whose value is given at provision time is written here; the app settings
// reference secrets by name without a version, so a new version set later is picked up on restart.

param name string
param location string
param tags object = {}

@description('Principal id of the app identity, which reads the secrets.')
param readerPrincipalId string

@description('Principal id of a user who manages the secrets (az keyvault secret set). Empty: none.')
param officerPrincipalId string = ''
@allowed(['User', 'ServicePrincipal'])
param officerPrincipalType string = 'User'

@secure()
@description('Secret name -> value; entries with an empty value are not written.')
param secretValues object

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: no firewall: without a virtual network the app resolves its Key Vault references over the public endpoint; access is by Azure RBAC only (the app identity reads, nobody else by default).
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [
  for secret in items(secretValues): if (!empty(secret.value)) {
    // checkov:skip=CKV_AZURE_41: webhook secrets are shared with GitHub / Azure DevOps and tokens come from them; an expiry date here would not rotate them, it would only make the app reject webhooks on that day. Rotate them as docs/deploy.md says.
    parent: vault
    name: secret.key
    properties: {
      value: secret.value
      contentType: 'text/plain'
      attributes: { enabled: true }
    }
  }
]

resource appReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, readerPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
  }
}

resource userManagesSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(officerPrincipalId)) {
  name: guid(vault.id, officerPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    principalId: officerPrincipalId
    principalType: officerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
