"""The README's example: a small CNN on the bundled digits, with the training loop written out."""

import pydlk
from pydlk import nn, optim
from pydlk.data import DataLoader, TensorDataset
from pydlk.datasets import digits

pydlk.manual_seed(0)
train = DataLoader(TensorDataset(*digits("train")), batch_size=64, shuffle=True)
x_test, y_test = digits("test")
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1),
    nn.BatchNorm2d(16),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(16 * 4 * 4, 10),
)
opt = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
for _epoch in range(10):
    model.train()
    for x, y in train:
        loss = loss_fn(model(pydlk.tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sched.step()
model.eval()
with pydlk.no_grad():
    acc = (model(pydlk.tensor(x_test)).numpy().argmax(1) == y_test).mean()
print(f"test accuracy {acc:.3f}")
