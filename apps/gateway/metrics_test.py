"""Parses coordkit-gateway's /metrics text with prometheus_client's parser
(Debian's python3-prometheus-client) and checks the figures metrics_example
put in."""
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {}
    for f in families.values():
        for s in f.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def get(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]

    assert families["coordkit_http_requests"].type == "counter", families.keys()
    assert get("coordkit_http_requests_total", route="getRecord", status="200") == 2
    assert get("coordkit_http_requests_total", route="getRecord", status="404") == 1
    assert get("coordkit_http_requests_total", route='odd "route"\\x', status="500") == 1
    h = "coordkit_http_request_duration_seconds"
    assert families[h].type == "histogram"
    assert get(h + "_bucket", route="getRecord", le="0.0001") == 1
    assert get(h + "_bucket", route="getRecord", le="0.001") == 2
    assert get(h + "_bucket", route="getRecord", le="0.005") == 3
    assert get(h + "_bucket", route="getRecord", le="+Inf") == 3
    assert get(h + "_count", route="getRecord") == 3
    assert abs(get(h + "_sum", route="getRecord") - 0.00378) < 1e-9
    assert get(h + "_bucket", route="putRecord", le="10") == 0
    assert get(h + "_bucket", route="putRecord", le="+Inf") == 1
    assert get("coordkit_db_retries_total") == 7
    assert families["coordkit_gateway_up"].type == "gauge"
    assert get("coordkit_gateway_up", state="ready") == 1
    print("metrics parsed:", len(families), "families,", len(samples), "samples")


if __name__ == "__main__":
    main()
