// A copy simulated for the SizeTuner (size-tuner.h), for tests: requests
// of the tuner's size complete one after another on a virtual clock, each
// taking size / rate seconds, where the rate of each size is given in
// phases (the machine's speed changing after so many of the tuner's
// epochs), so how the tuner chooses under drift can be checked exactly,
// without this VM's noise. Exported to JS as simulateSizeTuner.
#include <map>
#include <vector>

#include "addon.h"
#include "size-tuner.h"

namespace {

struct Phase {
  size_t untilTrials;  // used while fewer epochs than this have been measured
  std::map<uint32_t, double> rates;
};

bool ReadPhases(Napi::Env env, Napi::Value v, std::vector<Phase> *out) {
  if (!v.IsArray() || v.As<Napi::Array>().Length() == 0) {
    Napi::TypeError::New(env, "simulateSizeTuner: phases must be a non-empty array").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsObject() || !v.As<Napi::Object>().Get("rates").IsArray()) {
      Napi::TypeError::New(env, "simulateSizeTuner: each phase must be {untilTrials?, rates: [[size, rate], ...]}").ThrowAsJavaScriptException();
      return false;
    }
    Napi::Object o = v.As<Napi::Object>();
    Phase p;
    uint32_t until = UINT32_MAX;
    if (!o.Get("untilTrials").IsUndefined() && !GetU32(o.Get("untilTrials"), "untilTrials", &until)) return false;
    p.untilTrials = until;
    Napi::Array rates = o.Get("rates").As<Napi::Array>();
    for (uint32_t j = 0; j < rates.Length(); j++) {
      Napi::Value pv = rates.Get(j);
      if (!pv.IsArray() || !pv.As<Napi::Array>().Get(1u).IsNumber()) {
        Napi::TypeError::New(env, "simulateSizeTuner: a rate must be [size, bytes per second]").ThrowAsJavaScriptException();
        return false;
      }
      Napi::Array pair = pv.As<Napi::Array>();
      uint32_t size;
      if (!GetU32(pair.Get(0u), "rates[][0]", &size)) return false;
      p.rates[size] = pair.Get(1u).As<Napi::Number>().DoubleValue();
    }
    out->push_back(p);
  }
  return true;
}

}  // namespace

// simulateSizeTuner({start, max, rangeSize, queueBytes, maxRequests, bytes, phases})
// -> {size, settled, bytes, trials: [[size, rate], ...]}
Napi::Value SimulateSizeTuner(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "simulateSizeTuner: expected an options object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  uint32_t start, max, maxRequests;
  uint64_t rangeSize, queueBytes, total;
  std::vector<Phase> phases;
  if (!GetU32(o.Get("start"), "start", &start) || !GetU32(o.Get("max"), "max", &max) ||
      !GetU64(o.Get("rangeSize"), "rangeSize", &rangeSize) || !GetU64(o.Get("queueBytes"), "queueBytes", &queueBytes) ||
      !GetU32(o.Get("maxRequests"), "maxRequests", &maxRequests) || !GetU64(o.Get("bytes"), "bytes", &total) ||
      !ReadPhases(env, o.Get("phases"), &phases))
    return env.Undefined();
  SizeTuner tuner(start, max, rangeSize, queueBytes, maxRequests);
  auto now = SizeTuner::Clock::time_point{};
  uint64_t copied = 0;
  while (!tuner.Settled() && copied < total) {
    size_t k = 0;
    while (k + 1 < phases.size() && tuner.Trials().size() >= phases[k].untilTrials) k++;
    uint32_t size = tuner.Size();
    auto it = phases[k].rates.find(size);
    if (it == phases[k].rates.end() || !(it->second > 0)) {
      Napi::RangeError::New(env, "simulateSizeTuner: no rate for size " + std::to_string(size)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    now += std::chrono::duration_cast<SizeTuner::Clock::duration>(std::chrono::duration<double>(size / it->second));
    copied += size;
    tuner.Count(size, size, now);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("size", Napi::Number::New(env, tuner.Size()));
  r.Set("settled", Napi::Boolean::New(env, tuner.Settled()));
  r.Set("bytes", Napi::Number::New(env, (double)copied));
  Napi::Array trials = Napi::Array::New(env, tuner.Trials().size());
  for (size_t i = 0; i < tuner.Trials().size(); i++) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::Number::New(env, tuner.Trials()[i].size));
    pair.Set(1u, Napi::Number::New(env, tuner.Trials()[i].rate));
    trials.Set((uint32_t)i, pair);
  }
  r.Set("trials", trials);
  return r;
}
