-- Argo CD health check for azop.dev objects: AzureCluster, AksCluster, StorageBinding and
-- ProxyConfig share it (docs/gitops.md). azop reports through status.conditions (Ready rolled
-- up from one condition per part), status.observedGeneration and status.phase.
--
--   Progressing  no status yet; status older than the spec (observedGeneration behind
--                metadata.generation); Ready not yet True for a reason azop works through by
--                itself (Provisioning, ProvisioningFailed while a retry is due, Throttled,
--                MissingReference while a StorageBinding gets ready, ...); being deleted
--   Healthy      Ready=True for the current generation
--   Degraded     Ready=False for a reason only a person can fix (the list below), a write
--                Azure refused for lack of permission (ProvisioningFailed naming
--                AuthorizationFailed), phase Failed, or a deletion that cannot finish
--                (DeleteBlocked)
-- The message is Ready's reason and message, which say what is wrong and what to do.
--
-- Argo CD runs checks from argocd-cm without Lua's standard libraries unless
-- resource.customizations.useOpenLibs.<group>_<Kind> is "true" (argocd-cm.yaml sets it): only
-- the permission check needs one (string.find), and it is skipped, not failed, without it.
-- Since Argo CD 3.6 an object being deleted shows "Pending deletion" unless the check sets
-- hs.deletionMessage, which this one always does for such objects.

local degradedReasons = {
  InvalidSpec = true,
  StaticPlacementInvalid = true,
  NotOwned = true,
  ResourceGroupNotFound = true,
  -- The reasons the provider's error table gives (crates/provider/src/error.rs) when Azure
  -- or Entra ID refuses for a reason only a person can fix.
  AuthorizationFailed = true,
  AzureAuthorizationFailed = true,
  AzureInvalidSpec = true,
  CredentialsInvalid = true,
  CredentialsRejected = true,
  -- AksCluster: the Kubernetes version is not one AKS offers in the region.
  KubernetesVersionNotOffered = true,
  -- StorageBinding: what it attaches or copies from is missing or unusable.
  StorageAccountNotFound = true,
  ContainerNotFound = true,
  SubnetNotFound = true,
  SubnetMissingServiceEndpoint = true,
  VhdInvalid = true,
  CopyFailed = true,
  -- A deletion that cannot finish: the message names what is left in Azure.
  DeleteBlocked = true,
}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
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

-- A write Azure refused because the identity lacks a role is reported as ProvisioningFailed
-- with Azure's code in the message. string is nil when Argo CD gives the script no libraries:
-- then this is not recognised (Progressing) rather than an error (Unknown).
local function refusedForPermission(c)
  if c.reason ~= "ProvisioningFailed" or c.message == nil or string == nil then
    return false
  end
  return string.find(c.message, "(AuthorizationFailed)", 1, true) ~= nil
    or string.find(c.message, "(LinkedAuthorizationFailed)", 1, true) ~= nil
end

local function assess()
  if obj.status == nil then
    return "Progressing", "Waiting for azop to reconcile the object"
  end
  -- Numbers may arrive as strings (json.Number) or numbers: compare them as numbers.
  local generation = tonumber(obj.metadata.generation)
  local observed = tonumber(obj.status.observedGeneration)
  if generation ~= nil and (observed == nil or observed < generation) then
    if observed == nil then
      return "Progressing", "Waiting for azop to observe generation " .. generation
    end
    return "Progressing", "Waiting for azop to observe generation " .. generation .. " (status is for generation " .. observed .. ")"
  end
  local ready = findCondition(obj.status.conditions, "Ready")
  if obj.metadata.deletionTimestamp ~= nil then
    if ready ~= nil and ready.reason == "DeleteBlocked" then
      return "Degraded", withReason(ready, "the deletion cannot finish")
    end
    return "Progressing", withReason(ready, "Deleting the Azure resources")
  end
  if ready ~= nil and ready.status == "False" and (degradedReasons[ready.reason] or refusedForPermission(ready)) then
    return "Degraded", withReason(ready, "azop cannot go on without a change")
  end
  -- An invalid spec also shows as phase Failed; a Ready condition may be missing in old status.
  if obj.status.phase == "Failed" then
    return "Degraded", withReason(ready, "Phase Failed: see status.conditions")
  end
  if ready ~= nil and ready.status == "True" then
    if ready.message ~= nil and ready.message ~= "" then
      return "Healthy", ready.message
    end
    return "Healthy", "Ready"
  end
  return "Progressing", withReason(ready, "Waiting for the Ready condition")
end

local hs = {}
hs.status, hs.message = assess()
if obj.metadata.deletionTimestamp ~= nil then
  hs.deletionMessage = hs.message
end
return hs
