-- Argo CD health check for azop.dev objects (AzureCluster, AksCluster, StorageBinding and
-- ProxyConfig share it; see docs/gitops.md). azop reports through status.conditions (Ready
-- rolled up from one condition per part), status.observedGeneration and status.phase.
--
--   Progressing  no status yet, status older than the spec (observedGeneration behind
--                metadata.generation), Ready not yet True, or deletion under way
--   Healthy      Ready=True for the current generation
--   Degraded     Ready=False for a reason that only a person can fix: azop stopped retrying
--                or cannot go on (InvalidSpec, StaticPlacementInvalid, NotOwned,
--                AuthorizationFailed, ResourceGroupNotFound, KubernetesVersionNotOffered) or a
--                delete that cannot finish
--                (DeleteBlocked); the message is the condition's, which says what to do.
--                A write Azure refused for lack of permission is reported as
--                ProvisioningFailed with "(AuthorizationFailed)" in the message: Degraded too
--
-- Everything else that azop retries by itself (Provisioning, ProvisioningFailed while a retry
-- hold runs, Throttled, MissingReference while a StorageBinding gets ready) stays Progressing,
-- so that a sync wave waits for it instead of failing.
local hs = {}

local degradedReasons = {
  InvalidSpec = true,
  StaticPlacementInvalid = true,
  NotOwned = true,
  AuthorizationFailed = true,
  -- The reasons the provider's error table gives (crates/provider/src/error.rs) when
  -- Azure or Entra ID refuses for a reason only a person can fix.
  AzureAuthorizationFailed = true,
  AzureInvalidSpec = true,
  CredentialsRejected = true,
  ResourceGroupNotFound = true,
  -- AksCluster: the Kubernetes version is not one AKS offers in the region.
  KubernetesVersionNotOffered = true,
  DeleteBlocked = true,
}

local function findCondition(conditions, type)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function withReason(c, fallback)
  if c == nil then
    return fallback
  end
  local msg = c.message
  if msg == nil or msg == "" then
    msg = fallback
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason .. ": " .. msg
  end
  return msg
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for azop to reconcile the object"
  return hs
end

-- Numbers may arrive as strings (json.Number) or numbers: compare them as numbers.
local generation = tonumber(obj.metadata.generation)
local observed = tonumber(obj.status.observedGeneration)
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  if observed == nil then
    hs.message = "Waiting for azop to observe generation " .. generation
  else
    hs.message = "Waiting for azop to observe generation " .. generation .. " (status is for generation " .. observed .. ")"
  end
  return hs
end

local ready = findCondition(obj.status.conditions, "Ready")

local function refusedForPermission(c)
  if c.reason ~= "ProvisioningFailed" or c.message == nil then
    return false
  end
  return string.find(c.message, "(AuthorizationFailed)", 1, true) ~= nil
    or string.find(c.message, "(LinkedAuthorizationFailed)", 1, true) ~= nil
end

if ready ~= nil and ready.status == "False" and (degradedReasons[ready.reason] or refusedForPermission(ready)) then
  hs.status = "Degraded"
  hs.message = withReason(ready, "azop cannot go on without a change")
  return hs
end

-- An invalid spec also shows as phase Failed; a Ready condition may be missing in old status.
if obj.status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = withReason(ready, "Phase Failed: see status.conditions")
  return hs
end

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = withReason(ready, "Deleting the Azure resources")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  if ready.message ~= nil and ready.message ~= "" then
    hs.message = ready.message
  else
    hs.message = "Ready"
  end
  return hs
end

hs.status = "Progressing"
hs.message = withReason(ready, "Waiting for the Ready condition")
return hs
