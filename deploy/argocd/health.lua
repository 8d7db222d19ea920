-- Argo CD health of hfops.dev/Endpoint: Ready=True -> Healthy; a cause that needs a person
-- (InvalidSpec, NotOwned, ModelRefused, QuotaExceeded, Failed) -> Degraded; anything else
-- (provisioning, API faults being retried, no status yet) -> Progressing.
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local degraded = {InvalidSpec = true, NotOwned = true, ModelRefused = true, QuotaExceeded = true, Failed = true}
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    if c.status == "True" then
      hs.status = "Healthy"
    elseif degraded[c.reason] then
      hs.status = "Degraded"
    else
      hs.status = "Progressing"
    end
    hs.message = (c.reason or "") .. ": " .. (c.message or "")
  end
end
if obj.status.observedGeneration ~= nil and obj.metadata.generation ~= nil
    and obj.status.observedGeneration < obj.metadata.generation and hs.status == "Healthy" then
  hs.status = "Progressing"
  hs.message = "the operator has not seen the latest spec yet"
end
return hs
