"""Training with batch augmentation (random shifts, small rotations, cutout) and predicting with
test-time augmentation (mean softmax over shifted views).

    python examples/augmentation_and_tta.py [--epochs 15]
"""

import argparse

import pydlk
from pydlk import models, nn, optim
from pydlk.data import DataLoader, TensorDataset
from pydlk.data import augment as A
from pydlk.datasets import digits
from pydlk.train import fit, predict, tta_predict

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=15)
args = ap.parse_args()

pydlk.manual_seed(0)
xtr, ytr = digits("train")
xte, yte = digits("test")
augment = A.Compose([A.RandomCrop(padding=1), A.RandomRotation(10), A.Cutout(3, p=0.5)])
train = DataLoader(TensorDataset(xtr, ytr), batch_size=64, shuffle=True, transform=augment)
model = models.LeNet5(num_classes=10, in_size=8)
opt = optim.Adam(model.parameters(), lr=3e-3)
sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
fit(model, nn.CrossEntropyLoss(), opt, train, epochs=args.epochs, scheduler=sched, verbose=False)
plain = (predict(model, xte).argmax(1) == yte).mean()
tta = (tta_predict(model, xte, flips=False, shifts=1).argmax(1) == yte).mean()
print(f"test accuracy: plain {plain:.3f}, with test-time augmentation {tta:.3f}")
