"""The classic tutorial Flask app serving a joblib model: the baseline of the serving benchmark.

Usage: python flask_app.py MODEL.joblib PORT
"""

import sys

import joblib
import numpy as np
from flask import Flask, jsonify, request

app = Flask(__name__)
model = joblib.load(sys.argv[1])


@app.route("/predict", methods=["POST"])
def predict():
    data = request.get_json()
    prediction = model.predict(np.array(data["instances"]))
    return jsonify({"predictions": prediction.tolist()})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[2]), threaded=True)
