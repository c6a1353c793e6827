// Driftline on Azure Functions Flex Consumption, for `azd up` (docs/deploy.md walks through it).
//
// One resource group with: a user-assigned identity the app runs as; one storage account (shared
// keys off, blob versioning on) with every container and queue the app uses; Log Analytics with
// Application Insights over it (local auth off: telemetry with the identity); a Key Vault holding the
// webhook secrets and repository tokens, referenced from app settings; the function app; an Event
// Grid system topic on the storage account, whose subscriptions for the lake's blob triggers
// (infra/app/lake-events.bicep) the azd postdeploy hook deploys once the code runs.
//
// Azure Verified Modules (br/public:avm/...) are used where they fit, as the azd Flex Consumption
// quickstarts do; storage, Key Vault, the function app and the role assignments are local modules
// (infra/app/), written out so checkov checks every property (tests/infra/test_checkov.py).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name, used to derive resource names.')
param environmentName string

@minLength(1)
@description('Azure region for all resources (one that offers Flex Consumption).')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the user running azd (AZURE_PRINCIPAL_ID): may upload data and manage the secrets. Empty: none.')
param principalId string = ''

@description('What principalId is: a user (azd up from a laptop) or a service principal (a pipeline).')
@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@description('Resource group name. Empty: rg-<environmentName>.')
param resourceGroupName string = ''

// Secrets: each one given (azd env set ...) is written to Key Vault and its app setting references it.
@secure()
@description('Secret configured on the GitHub webhook (X-Hub-Signature-256).')
param githubSecret string = ''
@secure()
@description('Shared secret (basic auth password) configured on the Azure DevOps service hook.')
param adoSecret string = ''
@secure()
@description('Secret used to sign outgoing notifications.')
param notifySecret string = ''
@secure()
@description('Secret that signs the one-time approval links (DRIFTLINE_APPROVAL_SECRET).')
param approvalSecret string = ''
@description('Who may approve or reject a run: comma-separated names or Entra object ids.')
param approvers string = ''
@description('true when App Service authentication (Entra ID) is on in front of the app, so its principal headers can be trusted.')
param trustAppServiceAuth string = 'false'
@secure()
@description('GitHub token with read access to the watched repository (DRIFTLINE_CODE_SOURCE=github).')
param githubToken string = ''
@secure()
@description('Azure DevOps PAT (Code: read). Empty: the app identity is used (DRIFTLINE_CODE_SOURCE=azure-devops).')
param adoPat string = ''

@description('Secrets already in the Key Vault (set with az keyvault secret set), comma-separated names, e.g. "github-token,ado-pat": referenced although no value was given here, and left untouched.')
param vaultSecrets string = ''

// What the app watches and serves.
@description('Model name; the watched repository\'s driftline.toml [model] name must match.')
param modelName string = 'driftline-model'
@description('Label column of labeled data; driftline.toml [model] target must match.')
param targetColumn string = 'label'
@description('Where runs get the commit\'s code: empty, git:<url>, github or azure-devops.')
param codeSource string = ''
@description('owner/name of the watched GitHub repository.')
param githubRepository string = ''
@description('https://dev.azure.com/<organization> of the watched Azure DevOps repository.')
param adoOrganizationUrl string = ''
param adoProject string = ''
param adoRepository string = ''
@description('Watched branches, comma-separated.')
param branches string = 'main'
@description('URL that receives signed notifications. Empty: none.')
param notifyUrl string = ''
// Strings, as azd substitutes them into main.parameters.json; the app validates them at start.
@allowed(['true', 'false'])
param approvalRequired string = 'false'
@allowed(['true', 'false'])
param waitForCi string = 'false'
@description('Share of scoring traffic a new version gets first, 0-100 (0: deploy straight to production).')
param canaryPercent string = '0'

@description('Any other app setting as a JSON object, name -> value; wins over the values below, e.g. {"DRIFTLINE_SCHEDULED_DRIFT": "true"}. Empty: none.')
param settingOverrides string = ''

@description('Maximum instances of the Flex Consumption app.')
param maximumInstanceCount int = 40
@description('Memory per instance in MB (training runs in-process for small data sets).')
@allowed([2048, 4096])
param instanceMemoryMB int = 4096

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var names = {
  identity: 'id-driftline-${token}'
  plan: 'plan-driftline-${token}'
  app: 'func-driftline-${token}'
  storage: 'stdl${token}'
  logs: 'log-driftline-${token}'
  insights: 'appi-driftline-${token}'
  vault: 'kv-dl-${token}'
  lakeTopic: 'evgt-driftline-${token}'
}
var deploymentContainer = 'app-package-${take(token, 7)}'

// Every container and queue the app uses (shared/platform/names.py; tests/infra/test_coverage.py
// checks both lists against it), and the deployment package's container.
var containers = [
  deploymentContainer
  'datalake'
  'models'
  'reports'
  'runs'
  'hooks'
  'code'
]
var stepQueues = [
  'push'
  'fetch'
  'unit-test'
  'retrain'
  'register'
  'test'
  'deploy'
  'notify'
]
// <queue>-poison: messages that failed maxDequeueCount times or could not be parsed, with the reason.
var poisonQueues = [
  'push-poison'
  'fetch-poison'
  'unit-test-poison'
  'retrain-poison'
  'register-poison'
  'test-poison'
  'deploy-poison'
  'notify-poison'
]

// Key Vault secret name -> value given at provision time.
var secretValues = {
  'github-secret': githubSecret
  'ado-secret': adoSecret
  'notify-secret': notifySecret
  'approval-secret': approvalSecret
  'github-token': githubToken
  'ado-pat': adoPat
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module plan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'plan'
  scope: rg
  params: {
    name: names.plan
    sku: { name: 'FC1', tier: 'FlexConsumption' }
    reserved: true
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    containers: containers
    queues: concat(stepQueues, poisonQueues)
  }
}

module logs 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: 'logs'
  scope: rg
  params: {
    name: names.logs
    location: location
    tags: tags
    dataRetention: 30
  }
}

module insights 'br/public:avm/res/insights/component:0.6.0' = {
  name: 'insights'
  scope: rg
  params: {
    name: names.insights
    location: location
    tags: tags
    workspaceResourceId: logs.outputs.resourceId
    disableLocalAuth: true
  }
}

module vault 'app/keyvault.bicep' = {
  name: 'vault'
  scope: rg
  params: {
    name: names.vault
    location: location
    tags: tags
    readerPrincipalId: identity.outputs.principalId
    officerPrincipalId: principalId
    officerPrincipalType: principalType
    secretValues: secretValues
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: insights.outputs.name
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

// A setting whose secret was given, or is listed in vaultSecrets, references it in Key Vault (by
// name, no version: the latest version is read); any other stays empty, which the app reads as unset.
var vaultReference = '@Microsoft.KeyVault(VaultName=${vault.outputs.name};SecretName='
var inVault = split(replace(vaultSecrets, ' ', ''), ',')

// Every app setting the app reads (shared/platform/settings.py, the timer schedules of
// functions/timers.py); tests/infra/test_coverage.py checks this list against the code and
// local.settings.example.json. FUNCTIONS_WORKER_RUNTIME is functionAppConfig.runtime on Flex
// Consumption (which refuses the setting), AzureWebJobsStorage is identity-based (__accountName).
var appSettings = {
  AzureWebJobsStorage__accountName: storage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  AZURE_CLIENT_ID: identity.outputs.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: insights.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
  DRIFTLINE_MODEL_NAME: modelName
  DRIFTLINE_TARGET_COLUMN: targetColumn
  DRIFTLINE_TRAINING_ENTRY_POINT: ''
  DRIFTLINE_TRAINING_PARAMS: '{}'
  DRIFTLINE_DRIFT_CONFIG: '{}'
  DRIFTLINE_APPROVAL_REQUIRED: approvalRequired
  DRIFTLINE_APPROVAL_SECRET: empty(approvalSecret) && !contains(inVault, 'approval-secret') ? '' : '${vaultReference}approval-secret)'
  DRIFTLINE_APPROVERS: approvers
  DRIFTLINE_TRUST_APP_SERVICE_AUTH: trustAppServiceAuth
  DRIFTLINE_APPROVAL_TTL_HOURS: '72'
  DRIFTLINE_QUALITY_TOLERANCE: '0.01'
  DRIFTLINE_LATENCY_BUDGET_MS: '50'
  DRIFTLINE_LATENCY_REPETITIONS: '50'
  DRIFTLINE_INTEGRATION_TESTS: ''
  DRIFTLINE_CANARY_PERCENT: canaryPercent
  DRIFTLINE_CANARY_MAX_ERROR_RATE: '0.05'
  DRIFTLINE_CANARY_MIN_REQUESTS: '100'
  DRIFTLINE_CANARY_MAX_LATENCY_MS: '500'
  DRIFTLINE_CANARY_MIN_FEEDBACK: '20'
  DRIFTLINE_CANARY_CONFIDENCE: '0.95'
  DRIFTLINE_CANARY_FLUSH_REQUESTS: '50'
  DRIFTLINE_NOTIFY_URL: notifyUrl
  DRIFTLINE_NOTIFY_SECRET: empty(notifySecret) && !contains(inVault, 'notify-secret') ? '' : '${vaultReference}notify-secret)'
  DRIFTLINE_GITHUB_SECRET: empty(githubSecret) && !contains(inVault, 'github-secret') ? '' : '${vaultReference}github-secret)'
  DRIFTLINE_ADO_SECRET: empty(adoSecret) && !contains(inVault, 'ado-secret') ? '' : '${vaultReference}ado-secret)'
  DRIFTLINE_BRANCHES: branches
  DRIFTLINE_ROUTING_FILE: 'routing.toml'
  DRIFTLINE_WAIT_FOR_CI: waitForCi
  DRIFTLINE_CI_CHECKS: ''
  DRIFTLINE_CI_WAIT_HOURS: '24'
  DRIFTLINE_RETRAIN_COALESCE_SECONDS: '60'
  DRIFTLINE_STEP_TIMEOUT_MINUTES: '60'
  DRIFTLINE_STEP_MAX_RETRIES: '2'
  DRIFTLINE_RETENTION_DAYS: '30'
  DRIFTLINE_SCORING_LOG_BATCH: '100'
  DRIFTLINE_SCORING_LOG_FLUSH_SECONDS: '5'
  DRIFTLINE_ALIAS_CHECK_SECONDS: '2'
  DRIFTLINE_WEBHOOK_MAX_AGE_SECONDS: '600'
  DRIFTLINE_WEBHOOK_MAX_BYTES: '5242880'
  DRIFTLINE_QUALITY_METRIC: 'auto'
  DRIFTLINE_TASK: 'auto'
  DRIFTLINE_UNSCORABLE_PRODUCTION: 'fail'
  DRIFTLINE_HOLDOUT_PERCENT: '20'
  DRIFTLINE_BLOB_SOURCE: 'EventGrid'
  DRIFTLINE_DRIFT_SCHEDULE: '0 0 2 * * *'
  DRIFTLINE_RETRAIN_SCHEDULE: '0 0 3 * * 0'
  DRIFTLINE_SWEEP_SCHEDULE: '0 */5 * * * *'
  DRIFTLINE_CLEANUP_SCHEDULE: '0 30 4 * * *'
  DRIFTLINE_SCHEDULED_DRIFT: 'false'
  DRIFTLINE_SCHEDULED_RETRAIN: 'false'
  DRIFTLINE_SWEEP_ENABLED: 'true'
  DRIFTLINE_CLEANUP_ENABLED: 'true'
  DRIFTLINE_DRIFT_WINDOW_HOURS: '24'
  DRIFTLINE_TRAINING_COMPUTE: 'local'
  DRIFTLINE_AZUREML_SUBSCRIPTION_ID: ''
  DRIFTLINE_AZUREML_RESOURCE_GROUP: ''
  DRIFTLINE_AZUREML_WORKSPACE: ''
  DRIFTLINE_AZUREML_COMPUTE: ''
  DRIFTLINE_AZUREML_ENVIRONMENT: ''
  DRIFTLINE_CODE_SOURCE: codeSource
  DRIFTLINE_GITHUB_REPOSITORY: githubRepository
  DRIFTLINE_GITHUB_TOKEN: empty(githubToken) && !contains(inVault, 'github-token') ? '' : '${vaultReference}github-token)'
  DRIFTLINE_GITHUB_API_URL: 'https://api.github.com'
  DRIFTLINE_ADO_ORGANIZATION_URL: adoOrganizationUrl
  DRIFTLINE_ADO_PROJECT: adoProject
  DRIFTLINE_ADO_REPOSITORY: adoRepository
  DRIFTLINE_ADO_PAT: empty(adoPat) && !contains(inVault, 'ado-pat') ? '' : '${vaultReference}ado-pat)'
  DRIFTLINE_SNAPSHOT_MAX_BYTES: '52428800'
  DRIFTLINE_SNAPSHOT_MAX_FILES: '5000'
  DRIFTLINE_LABELED_MAX_BYTES: '536870912'
  DRIFTLINE_LABELED_MAX_COLUMNS: '1000'
  DRIFTLINE_NEW_COLUMNS: ''
  DRIFTLINE_DATASET_MAX_AGE_DAYS: '0'
  DRIFTLINE_DATASET_MAX_ROWS: '0'
  DRIFTLINE_RETRAIN_MIN_NEW_ROWS: '1'
  DRIFTLINE_FEEDBACK_MIN_ROWS: '100'
  DRIFTLINE_FEEDBACK_MAX_SHARE: '0.5'
  DRIFTLINE_COST_INSTANCE_MEMORY_MB: string(instanceMemoryMB)
  DRIFTLINE_COST_GB_SECOND_USD: '0.000026'
  DRIFTLINE_COST_MILLION_EXECUTIONS_USD: '0.40'
  DRIFTLINE_COST_AZUREML_VM_HOUR_USD: '0.293'
  DRIFTLINE_TRACE_CONSOLE: 'false'
  DRIFTLINE_MAX_BODY_BYTES: '1048576'
  DRIFTLINE_MAX_JSON_DEPTH: '32'
  DRIFTLINE_MAX_JSON_ITEMS: '10000'
  DRIFTLINE_STEP_LEASE_SECONDS: '300'
}

module app 'app/function.bicep' = {
  name: 'app'
  scope: rg
  params: {
    name: names.app
    location: location
    tags: tags
    planId: plan.outputs.resourceId
    identityId: identity.outputs.resourceId
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${deploymentContainer}'
    appSettings: union(appSettings, json(empty(settingOverrides) ? '{}' : settingOverrides))
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  dependsOn: [rbac]
}

module lakeTopic 'br/public:avm/res/event-grid/system-topic:0.6.1' = {
  name: 'lakeTopic'
  scope: rg
  params: {
    name: names.lakeTopic
    location: location
    tags: tags
    source: storage.outputs.resourceId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

var baseUrl = 'https://${app.outputs.defaultHostName}'

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = vault.outputs.name
output AZURE_EVENTGRID_TOPIC_NAME string = lakeTopic.outputs.name
output APPLICATIONINSIGHTS_NAME string = insights.outputs.name
output DRIFTLINE_FUNCTION_URL string = baseUrl
output DRIFTLINE_API_URL string = '${baseUrl}/api'
output DRIFTLINE_GITHUB_WEBHOOK_URL string = '${baseUrl}/api/hooks/github'
output DRIFTLINE_ADO_WEBHOOK_URL string = '${baseUrl}/api/hooks/azure-devops'
